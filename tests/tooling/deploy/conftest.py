"""The real checkers of the container files, without a Docker engine (none runs here or in CI).

`infra/local/compose-tools.sh` builds Docker Compose and BuildKit's Dockerfile checks from the Go
module proxy into ~/.cache/userq when they are missing; a tool that cannot be built fails the tests
that need it (never a skip).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.services import ROOT

TOOLS = ROOT / "infra" / "local" / "compose-tools.sh"
COMPOSE_FILE = ROOT / "docker-compose.yml"
BUILD_TIMEOUT_S = 1800  # the first build of Compose on a fresh machine takes minutes


def _tool(name: str) -> Path:
    done = subprocess.run(
        [str(TOOLS), "path", name], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"compose-tools.sh path {name} failed:\n{done.stderr[-4000:]}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file(), path
    return path


class Compose:
    """`docker compose` (the real one, standalone) on the repository's docker-compose.yml."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.home = home

    def run(
        self, *args: str, env_file: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run with only `env` in the environment and `env_file` as the .env, so that neither the caller's
        variables nor a developer's own .env change what is checked."""
        dotenv = self.home / "compose.env"
        dotenv.write_text(env_file)
        project = ["--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(dotenv)]
        return subprocess.run(
            [str(self.binary), *project, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.home), **(env or {})},
        )

    def config(self, env_file: str = "", env: dict[str, str] | None = None) -> dict[str, Any]:
        """The project as Compose resolves it (`docker compose config --format json`)."""
        done = self.run("config", "--format", "json", env_file=env_file, env=env)
        assert done.returncode == 0, done.stderr
        project: dict[str, Any] = json.loads(done.stdout)
        return project


@pytest.fixture(scope="session")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    return Compose(_tool("compose"), tmp_path_factory.mktemp("compose-home"))


@pytest.fixture(scope="session")
def dockerlint() -> Path:
    return _tool("dockerlint")
