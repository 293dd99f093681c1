"""The package boundaries (docs/architecture.md, "The packages"), read from the imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the first-party packages it must never import
FORBIDDEN = {
    "producer_api": {"stream_worker", "harness", "tests", "bench"},
    "stream_worker": {"producer_api", "harness", "tests", "bench"},
    "schemas": {"producer_api", "stream_worker", "store", "runtime", "harness", "tests", "bench", "userq"},
    "request_types": {"producer_api", "stream_worker", "store", "runtime", "harness", "tests", "bench", "userq"},
    "store": {"producer_api", "stream_worker", "runtime", "harness", "tests", "bench", "userq"},
    "runtime": {"producer_api", "stream_worker", "harness", "tests", "bench", "userq"},
    "userq": {"producer_api", "stream_worker", "schemas", "store", "request_types", "runtime", "harness", "tests"},
    "bench": {"tests"},
    "harness": {"tests", "bench"},
}
# pure modules: they decide, the edges do the I/O
PURE = ["schemas.lifecycle", "schemas.records", "stream_worker.decisions", "stream_worker.lanes", "request_types"]
IO_LIBRARIES = ["psycopg", "confluent_kafka", "fastapi", "httpx"]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_none_of_the_packages_it_must_not(package: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(_imports(path) & FORBIDDEN[package])
    ]
    assert crossings == []


def test_the_pure_modules_load_no_io_library() -> None:
    probe = f"import sys; import {', '.join(PURE)}; print(sorted(m for m in {IO_LIBRARIES!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_no_database_code_uses_a_pipeline() -> None:
    """psycopg ends a pipeline (and `executemany`, which uses one) with a Flush after its Sync, which leaves
    PostgreSQL without its idle-in-transaction timeout: a process frozen after one holds its locks for ever
    (docs/failures.md, "Zombies write nothing"). Database steps of request types run in the tick's
    transaction too: the rule is theirs as well (README, "Request types and your own handlers")."""
    calls = [
        f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.attr}"
        for package in ("producer_api", "stream_worker", "store", "runtime", "request_types")
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"pipeline", "executemany"}
    ]
    assert calls == []
