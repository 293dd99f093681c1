"""The diagrams in docs/diagrams: each SVG was rendered from exactly its Mermaid source, the architecture
document shows both, and every name a diagram uses (topics, settings, tables, modules, functions, metrics,
routes, log lines) exists in the code. A diagram that drifts from the code, or is edited without being
rendered again (`make diagrams`), fails here. No browser is needed: render.sh stamps each SVG with the
sha256 of its source."""

from __future__ import annotations

import hashlib
import re
import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

from harness.services import ROOT
from producer_api.app import create_app
from producer_api.settings import ApiSettings
from runtime.settings import CommonSettings
from stream_worker.settings import WorkerSettings

DIAGRAMS = ROOT / "docs" / "diagrams"
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("producer_api", "stream_worker", "schemas", "store", "request_types", "runtime", "userq")
NAMES = ("architecture", "flow", "process")

STAMP = re.compile(
    r"^<!-- rendered from (?P<name>[\w.-]+\.mmd), sha256 (?P<sha>[0-9a-f]{64}) by mermaid-cli [\d.]+: .* -->$"
)
SVG_NS = "{http://www.w3.org/2000/svg}"


def source(name: str) -> str:
    return (DIAGRAMS / f"{name}.mmd").read_text(encoding="utf-8")


def text_of(name: str) -> str:
    """The diagram's source with its line breaks as spaces, as a reader sees the labels."""
    return re.sub(r"<br\s*/?>", " ", source(name))


@cache
def code_files() -> tuple[Path, ...]:
    return tuple(sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*") if p.suffix in {".py", ".sql"}))


@cache
def corpus() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in code_files())


@cache
def identifiers() -> frozenset[str]:
    return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", corpus()))


@cache
def tables() -> frozenset[str]:
    sql = corpus()
    return frozenset(re.findall(r"create (?:unlogged )?(?:table|view)(?: if not exists)? (\w+)", sql, re.I))


@cache
def topics() -> frozenset[str]:
    s = CommonSettings(topic_prefix="userq")
    return frozenset({s.requests_topic, s.retry_topic, s.dlq_topic, s.results_topic})


@cache
def settings() -> frozenset[str]:
    return frozenset(name.upper() for cls in (ApiSettings, WorkerSettings) for name in cls.model_fields)


@cache
def routes() -> frozenset[str]:
    """The API's paths, as its OpenAPI document lists them (`{request_id}`, not `{request_id:uuid}`)."""
    app = create_app(ApiSettings())  # no lifespan: nothing is connected
    return frozenset(app.openapi()["paths"])


def test_the_three_diagrams_are_there() -> None:
    assert sorted(p.stem for p in DIAGRAMS.glob("*.mmd")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_svg_was_rendered_from_exactly_this_source(name: str) -> None:
    svg = DIAGRAMS / f"{name}.svg"
    assert svg.exists(), f"{svg.name} is missing: run docs/diagrams/render.sh (make diagrams)"
    first, _, rest = svg.read_text(encoding="utf-8").partition("\n")
    stamp = STAMP.match(first)
    assert stamp is not None, f"{svg.name} has no render stamp: render it with docs/diagrams/render.sh"
    assert stamp["name"] == f"{name}.mmd"
    expected = hashlib.sha256((DIAGRAMS / f"{name}.mmd").read_bytes()).hexdigest()
    assert stamp["sha"] == expected, f"{name}.mmd changed after {svg.name} was rendered: run make diagrams"
    root = ET.fromstring(rest)  # noqa: S314 (our own file)
    assert root.tag == f"{SVG_NS}svg"
    shown = " ".join(" ".join(root.itertext()).split())
    for topic in sorted(set(re.findall(r"\buserq\.[a-z][\w.]*[a-z]", text_of(name))) & topics()):
        assert topic in shown, f"{topic} is in {name}.mmd but not in the text of {svg.name}"


def test_render_check_mode_agrees_without_a_browser() -> None:
    done = subprocess.run(
        ["bash", str(DIAGRAMS / "render.sh"), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_the_architecture_document_shows_the_svg_and_the_source(name: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert f"](diagrams/{name}.svg)" in doc, f"docs/architecture.md does not embed diagrams/{name}.svg"
    assert f"```mermaid\n{source(name).strip()}\n```" in doc, f"docs/architecture.md lacks {name}.mmd verbatim"


def test_the_architecture_shows_every_topic_and_the_group() -> None:
    text = text_of("architecture")
    for topic in topics():
        assert re.search(rf"{re.escape(topic)}(?![\w.])", text), f"{topic} is not in the architecture diagram"
    assert CommonSettings(topic_prefix="userq").group_id in text


def test_the_database_node_lists_real_tables() -> None:
    label = re.search(r'\bpg\[\("(.+?)"\)\]', source("architecture"))
    assert label is not None, "the architecture diagram has no PostgreSQL node `pg`"
    first, *rest = re.split(r"<br\s*/?>", label[1])
    assert first == "PostgreSQL"
    listed = {name.strip() for line in rest for name in line.split(",") if name.strip()}
    assert listed, "the PostgreSQL node lists no tables"
    assert listed - tables() == set(), "tables that no migration creates"


@pytest.mark.parametrize("name", NAMES)
def test_topic_and_header_names_exist(name: str) -> None:
    headers = set(re.findall(r'^DLQ_\w+ = "([\w.]+)"', (ROOT / "schemas" / "records.py").read_text(), re.M))
    used = set(re.findall(r"\buserq\.[a-z][\w.]*[a-z]", text_of(name)))
    assert used - topics() - headers == set(), "names that are neither a topic nor a dead-letter header"


@pytest.mark.parametrize("name", NAMES)
def test_settings_exist(name: str) -> None:
    used = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text_of(name)))
    assert used - settings() == set(), "settings that ApiSettings and WorkerSettings do not have"


@pytest.mark.parametrize("name", NAMES)
def test_tables_named_in_sql_phrases_exist(name: str) -> None:
    used = set(re.findall(r"\b(?:insert into|delete from|update)\s+([a-z_]+)\b", text_of(name)))
    assert used - tables() == set()


@pytest.mark.parametrize("name", NAMES)
def test_metric_names_exist(name: str) -> None:
    declared = {
        metric
        for module in ("producer_api/metrics.py", "stream_worker/metrics.py")
        for metric in re.findall(r'"(userq_\w+)"', (ROOT / module).read_text())
    }
    used = set(re.findall(r"\buserq_(?:api|worker)_\w+", text_of(name)))
    assert used - declared == set(), "metrics that no metrics module declares"


@pytest.mark.parametrize("name", NAMES)
def test_module_paths_exist(name: str) -> None:
    text = text_of(name)
    missing = []
    for path in set(re.findall(r"(?<![\w/.])(?:[a-z_]+/)+(?:[a-z_]+\.py)?|\b[a-z_]+\.py\b", text)):
        bare = "/" not in path
        places = [ROOT, *(ROOT / pkg for pkg in PACKAGES)]
        found = any((place / path).exists() for place in places) or (bare and any(p.name == path for p in code_files()))
        if not found:
            missing.append(path)
    assert missing == [], "files or folders that do not exist"


@pytest.mark.parametrize("name", NAMES)
def test_identifiers_exist_in_the_code(name: str) -> None:
    """snake_case names (functions, columns, tables, channels) and CamelCase names (classes) are real."""
    text = text_of(name)
    snake = set(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", text))
    camel = set(re.findall(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+\b", text))
    assert (snake | camel) - identifiers() == set(), "names that appear nowhere in the code"


@pytest.mark.parametrize("name", NAMES)
def test_owner_dot_member_references_exist(name: str) -> None:
    """`outbox.add`, `OffsetTracker.done`, `requests.parked`: the module or class defines it, or the table
    has that column."""
    text = text_of(name)
    wrong = []
    for owner, member in set(re.findall(r"\b([A-Za-z_]\w*)\.([a-z_]\w*)\b", text)):
        if owner == "userq" or member == "py":
            continue  # topic names and file names have their own tests
        files = [p for p in code_files() if p.stem == owner or re.search(rf"^class {owner}\b", _read(p), re.M)]
        defined = any(re.search(rf"\bdef {member}\(", _read(p)) for p in files)
        column = owner in tables() and re.search(rf"\b{member}\b", _migrations()) is not None
        if not (defined or column):
            wrong.append(f"{owner}.{member}")
    assert wrong == [], "members that their module, class or table does not have"


@pytest.mark.parametrize("name", NAMES)
def test_routes_exist(name: str) -> None:
    used = set(re.findall(r"(?<![\w.])(/v1(?:/[\w{}.-]+)*|/metrics|/healthz|/readyz)", text_of(name)))
    missing = [path for path in used if not any(r == path or r.startswith(path + "/") for r in routes())]
    assert missing == [], "routes the API does not have"


@pytest.mark.parametrize("name", NAMES)
def test_log_lines_exist(name: str) -> None:
    """Log lines are quoted “like this” in the diagrams; each is a message the code logs."""
    used = set(re.findall(r"“(.+?)”", " ".join(text_of(name).split())))
    missing = [line for line in used if f'"{line}"' not in corpus()]
    assert missing == [], "log lines that the code does not write"


def test_the_process_diagram_covers_retries_dead_letters_holds_logs_and_metrics() -> None:
    text = text_of("process")
    for needed in ("TransientError", "retrying", "dead_lettered", "userq.requests.dlq", "halt", "park", "log “"):
        assert needed in text
    assert re.search(r"userq_worker_\w+", text)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _migrations() -> str:
    return "\n".join(_read(p) for p in sorted((ROOT / "store" / "migrations").glob("*.sql")))
