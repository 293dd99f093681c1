"""The README's configuration table names every setting there is, and no other."""

from __future__ import annotations

import re

from harness.services import ROOT
from producer_api.settings import ApiSettings
from stream_worker.settings import WorkerSettings


def test_every_setting_is_documented_in_the_readme() -> None:
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", table, re.M))
    documented |= set(re.findall(r"^\| `[A-Z_]+` / `([A-Z][A-Z0-9_]+)`", table, re.M))
    settings = {name.upper() for cls in (ApiSettings, WorkerSettings) for name in cls.model_fields}
    assert settings - documented == set(), "settings missing from the README"
    assert documented - settings == set(), "the README documents settings that do not exist"
