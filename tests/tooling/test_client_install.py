"""`pip install userq`, without extras, gives the client library and the `userq` command and none of the
servers' dependencies (issue 13: the client stands alone). Slow: it builds userq and installs it, with its
dependencies from pip's own index, into a new virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from harness.services import ROOT

# What the `server` extra brings (by import name); not one may come with the client. (Not pydantic: typer
# needs it too.)
SERVER_MODULES = [
    "confluent_kafka",
    "psycopg",
    "fastapi",
    "uvicorn",
    "argon2",
    "prometheus_client",
    "structlog",
    "jwt",
    "orjson",
    "pydantic_settings",
]


def _source(into: Path) -> Path:
    """What a build of userq reads (pyproject.toml, its readme, its packages), copied, so that the build leaves
    nothing in the working tree."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    into.mkdir()
    for name in ("pyproject.toml", project["project"]["readme"]):
        shutil.copy2(ROOT / name, into / name)
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in {pattern.rstrip("*") for pattern in patterns}:
        shutil.copytree(ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def test_pip_install_userq_gives_the_client_and_the_command_without_the_servers(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, userq = venv / "bin" / "python", venv / "bin" / "userq"
    # run outside the repository (no `userq` next to the script) with none of this environment's paths
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")

    def run(*command: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(part) for part in command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    installed = run(
        python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", _source(tmp_path / "src"), timeout=900
    )
    assert installed.returncode == 0, installed.stderr[-4000:]

    imported = run(python, "-c", "import userq.client, userq.cli; print(userq.client.__file__)")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(venv)), imported.stdout  # the installed copy, not a source tree

    helped = run(userq, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Submit and follow requests on a userq API." in helped.stdout

    unreachable = run(userq, "--url", "http://127.0.0.1:9", "queue")
    assert unreachable.returncode == 1, unreachable.stderr
    assert unreachable.stderr.startswith("error: cannot reach http://127.0.0.1:9"), unreachable.stderr

    found = run(
        python,
        "-c",
        "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))",
        *SERVER_MODULES,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == []
    # the check can see a module that is there
    assert run(python, "-c", "import httpx, typer, rich").returncode == 0
