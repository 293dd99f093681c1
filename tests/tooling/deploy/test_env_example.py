""".env.example names every setting and every variable of docker-compose.yml, each with its real default."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from harness.services import ROOT
from producer_api.settings import ApiSettings
from runtime.settings import CommonSettings
from stream_worker.settings import WorkerSettings
from tests.tooling.deploy.conftest import COMPOSE_FILE, Compose

EXAMPLE = ROOT / ".env.example"
ENTRY = re.compile(r"^# ([A-Z][A-Z0-9_]*)=(.*)$")
# Defaults that are computed (WORKER_ID: host and PID) or absent (key files): documented as empty.
EMPTY_DEFAULTS = {"WORKER_ID", "JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILES", "GRAFANA_URL", "KAFKA_UI_URL"}


def entries() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in EXAMPLE.read_text().splitlines():
        if match := ENTRY.match(line):
            name, value = match.groups()
            assert name not in found, f"{name} is listed twice"
            found[name] = value
    return found


def fields() -> dict[str, FieldInfo]:
    return {
        name.upper(): info
        for settings in (CommonSettings, ApiSettings, WorkerSettings)
        for name, info in settings.model_fields.items()
    }


def same(documented: str, default: Any) -> bool:
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, int | float):
        return float(documented) == default
    if isinstance(default, list):
        return bool(json.loads(documented) == default)
    return documented == str(default)


def test_every_setting_is_listed_with_its_default() -> None:
    listed = entries()
    missing = set(fields()) - set(listed)
    assert missing == set(), f"settings missing from .env.example: {sorted(missing)}"
    for name, info in fields().items():
        if name in EMPTY_DEFAULTS:
            assert listed[name] == "", name
            continue
        assert info.default is not PydanticUndefined, f"{name} has a computed default: add it to EMPTY_DEFAULTS"
        assert same(listed[name], info.default), f"{name}: {listed[name]!r} in .env.example, {info.default!r} in code"


def test_every_compose_variable_is_listed() -> None:
    # ${NAME}, ${NAME:-default}; $${NAME} is an escape for the container's shell, not a variable.
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used, "no variables found: the pattern is wrong"
    listed = entries()
    assert used - set(listed) == set(), "compose variables missing from .env.example"
    assert set(listed) - used - set(fields()) == set(), ".env.example lists variables nothing reads"


def test_a_copy_changes_nothing() -> None:
    """Every entry is commented out, so `cp .env.example .env` keeps `make dev` and compose as they were."""
    for number, line in enumerate(EXAMPLE.read_text().splitlines(), 1):
        assert line == "" or line.startswith("#"), f".env.example:{number} is not commented out: {line}"


def test_the_documented_compose_defaults_are_the_real_ones(compose: Compose) -> None:
    """With every entry uncommented, compose resolves the same project, apart from the settings now set
    explicitly (to their defaults, checked above) in the containers' environment."""
    uncommented = "".join(f"{name}={value}\n" for name, value in entries().items())
    plain, explicit = compose.config(), compose.config(env_file=uncommented)
    for name, service in explicit["services"].items():
        passed = {key for key, value in plain["services"][name].get("environment", {}).items() if value is None}
        assert passed <= set(fields()), f"{name} passes on variables that are not settings"
        for key in passed:
            service["environment"][key] = None
    assert explicit == plain
