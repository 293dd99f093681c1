"""What the shipped dashboards and alert rules query, and what a service's /metrics output offers."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.services import ROOT

PROMETHEUS = ROOT / "infra" / "prometheus"
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))

# A metric name in PromQL: ours all start with `userq_` (label names and recording rules never do).
_NAME = re.compile(r"(?<![A-Za-z0-9_:])(userq_[a-z0-9_]+)(?![A-Za-z0-9_:])")
# A sample line of the text format: its name, then labels or the value.
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.M)


def promtool() -> str:
    """`promtool`, installed from Debian's packages by the project's script when missing."""
    if shutil.which("promtool") is None:
        subprocess.run([str(ROOT / "infra" / "local" / "prometheus.sh"), "install"], check=True, timeout=600)
    found = shutil.which("promtool")
    assert found is not None, "infra/local/prometheus.sh install did not provide promtool"
    return found


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARDS]


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # the panels of a collapsed row


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: its panels' targets and its template variables' queries."""
    queries = [t["expr"] for panel in panels(board) for t in panel.get("targets", [])]
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        queries.append(query["query"] if isinstance(query, dict) else str(query or ""))
    return [q for q in queries if q]


def load_yaml(path: Path) -> Any:
    yaml = importlib.import_module("yaml")  # PyYAML; imported by name, as typed stubs may not be installed
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    loaded = load_yaml(PROMETHEUS / "alerts.yml")
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def metric_names(queries: list[str]) -> set[str]:
    return {name for query in queries for name in _NAME.findall(query)}


def exposed(text: str) -> set[str]:
    """The names of the samples in a /metrics answer (`_bucket`, `_sum`, `_count`, `_total` included)."""
    return set(_SAMPLE.findall(text))


Sample = tuple[str, frozenset[tuple[str, str]]]


def samples(text: str) -> dict[Sample, float]:
    """A /metrics answer as {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))
