"""docker/*.Dockerfile: BuildKit's own checks, then the properties the images promise.

No engine runs here, so nothing is built: the checks read the files (with BuildKit's parser for the
lint, a small one of ours for the rest) and run the one build step that needs no image.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.services import ROOT

DOCKERFILES = {
    "api": (ROOT / "docker" / "api.Dockerfile", ["python", "-m", "producer_api"], ("PORT", "/healthz")),
    "worker": (ROOT / "docker" / "worker.Dockerfile", ["python", "-m", "stream_worker"], ("METRICS_PORT", "/metrics")),
}
# A slim Python image of one release: python:3.11.14-slim-bookworm.
PINNED_BASE = re.compile(r"^python:\d+\.\d+\.\d+-slim-[a-z]+$")


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for word, args in self.instructions if word == keyword]


def parse(path: Path) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments dropped, global ARGs applied."""
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", path.read_text())
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            image, _, name = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], args).partition(" AS ")
            stages.append(Stage(image.strip(), name.strip()))
        elif not stages and keyword == "ARG":
            key, _, default = args.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


@pytest.fixture(params=sorted(DOCKERFILES))
def service(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_buildkit_checks_pass(dockerlint: Path) -> None:
    files = [str(path) for path, _, _ in DOCKERFILES.values()]
    done = subprocess.run([str(dockerlint), *files], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": 0 problem(s)") == len(files)


def test_buildkit_checks_find_problems(dockerlint: Path, tmp_path: Path) -> None:
    """The linter is live: the mistakes it exists for are reported, by rule."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11.14-slim-bookworm as build\nENV MODE prod\nCMD python -m producer_api\n")
    done = subprocess.run([str(dockerlint), str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    for rule in ("FromAsCasing", "LegacyKeyValueFormat", "JSONArgsRecommended"):
        assert f"WARNING: {rule}" in done.stdout, rule


def test_multi_stage_on_a_pinned_slim_base(service: str) -> None:
    builder, runtime = parse(DOCKERFILES[service][0])
    assert (builder.name, runtime.name) == ("builder", "runtime")
    for stage in (builder, runtime):
        assert PINNED_BASE.match(stage.image), f"{stage.name}: {stage.image}"
    # The runtime takes the installed virtualenv and installs nothing itself.
    assert any(args.startswith("--from=builder ") for args in runtime.all("COPY"))
    assert not any("pip" in args for args in runtime.all("RUN"))


def test_the_two_images_share_one_base() -> None:
    images = {stage.image for path, _, _ in DOCKERFILES.values() for stage in parse(path)}
    assert len(images) == 1, images


def test_runs_as_a_user_that_is_not_root(service: str) -> None:
    runtime = parse(DOCKERFILES[service][0])[-1]
    user = runtime.all("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0, user
    assert any(f"--uid {uid} " in args and f"--gid {gid} " in args for args in runtime.all("RUN"))
    # Nothing after USER may need root.
    after = runtime.instructions[[word for word, _ in runtime.instructions].index("USER") :]
    assert not any(word in ("RUN", "COPY", "ADD") for word, _ in after), after


def test_health_check_and_command(service: str) -> None:
    _, command, (variable, path) = DOCKERFILES[service]
    runtime = parse(DOCKERFILES[service][0])[-1]
    (health,) = runtime.all("HEALTHCHECK")
    options, _, check = health.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert json.loads(check) == ["python", "/usr/local/bin/userq-healthcheck", variable, path]
    assert "docker/healthcheck.py /usr/local/bin/userq-healthcheck" in runtime.all("COPY")
    assert json.loads(runtime.all("CMD")[-1]) == command
    assert runtime.all("STOPSIGNAL") == ["SIGTERM"]


def test_listens_on_the_container_network() -> None:
    api_env = " ".join(parse(DOCKERFILES["api"][0])[-1].all("ENV"))
    worker_env = " ".join(parse(DOCKERFILES["worker"][0])[-1].all("ENV"))
    assert "HOST=0.0.0.0" in api_env and "PORT=3000" in api_env
    assert "METRICS_HOST=0.0.0.0" in worker_env and "METRICS_PORT=9101" in worker_env
    assert parse(DOCKERFILES["api"][0])[-1].all("EXPOSE") == ["3000"]
    assert parse(DOCKERFILES["worker"][0])[-1].all("EXPOSE") == ["9101"]


def copied_sources(path: Path) -> set[str]:
    """What the builder copies from the build context (COPY without --from)."""
    sources: set[str] = set()
    for args in parse(path)[0].all("COPY"):
        *paths, _destination = args.split()
        sources |= {p.rstrip("/") for p in paths if not p.startswith("--")}
    return sources


def test_the_images_get_every_package(service: str) -> None:
    """Every top-level package pyproject.toml builds, and its readme, is copied into the builder."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        entry.name
        for entry in ROOT.iterdir()
        if (entry / "__init__.py").is_file() and any(re.fullmatch(p.replace("*", ".*"), entry.name) for p in patterns)
    }
    assert {"userq", "producer_api", "stream_worker", "schemas"} <= packages
    assert packages | {"pyproject.toml", project["project"]["readme"]} == copied_sources(DOCKERFILES[service][0])


def test_the_build_context_holds_what_is_copied_and_no_secrets() -> None:
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*", "the context is an allow-list"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for path, _, _ in DOCKERFILES.values():
        assert copied_sources(path) <= allowed, path
        runtime_copies = {args.split()[0] for args in parse(path)[-1].all("COPY") if not args.startswith("--")}
        assert runtime_copies <= allowed, path
    assert not any(".env" in rule or "tests" in rule or ".venv" in rule for rule in allowed)
    assert {"**/.env", "**/__pycache__"} <= set(rules)


def test_the_dependency_layer_installs_the_base_and_server_dependencies(service: str, tmp_path: Path) -> None:
    """The builder's first RUN turns pyproject.toml into requirements.txt (the base dependencies, the client's,
    and the `server` extra); run that very command."""
    (step,) = [args for args in parse(DOCKERFILES[service][0])[0].all("RUN") if "tomllib" in args]
    command = step.split(" && ")[0].strip()
    assert command.endswith("> requirements.txt")
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    done = subprocess.run(
        ["sh", "-c", command],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["server"]
    assert (tmp_path / "requirements.txt").read_text().splitlines() == expected
    assert any(requirement.startswith("confluent-kafka") for requirement in expected)
