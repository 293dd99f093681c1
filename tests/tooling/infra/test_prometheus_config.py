"""The shipped Prometheus files: valid for promtool, every alert unit-tested, every alert documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness.services import ROOT
from tests.support.references import PROMETHEUS, load_yaml, promtool, rules


def _promtool(*args: str) -> str:
    result = subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_the_compose_config_and_the_rules_pass_promtool_check() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")
    assert f"SUCCESS: {len(rules())} rules found" in _promtool("check", "rules", "alerts.yml")


def test_the_alert_rules_pass_their_unit_tests() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def test_promtool_test_rules_fails_when_an_alert_misbehaves(tmp_path: Path) -> None:
    """The unit tests can fail: with one threshold changed, promtool says which expectation broke."""
    broken = (PROMETHEUS / "alerts.yml").read_text().replace('up{job="userq-api"} == 0', 'up{job="userq-api"} == 1')
    assert broken != (PROMETHEUS / "alerts.yml").read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts.test.yml").write_text((PROMETHEUS / "alerts.test.yml").read_text())
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "UserqApiDown" in result.stdout + result.stderr


def test_every_alert_has_unit_tests_firing_and_silent() -> None:
    tests = load_yaml(PROMETHEUS / "alerts.test.yml")["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    for rule in rules():
        name = rule["alert"]
        expectations = [bool(check["exp_alerts"]) for check in checks if check["alertname"] == name]
        assert True in expectations, f"{name}: no test where it fires"
        assert False in expectations, f"{name}: no test where it stays silent"


def test_every_alert_has_severity_summary_and_a_runbook_section_in_the_operations_guide() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", guide, re.M)}
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert runbook.split("#", 1)[1] in anchors, f"docs/operations.md has no section {rule['alert']}"


def _anchor(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's) gives a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")
