"""The bench's results: the targets of issue 6 as ratios, a table for people, and JSON under bench/results/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHECKS = ("http.checks", "sleep.checks", "sleep.wide.checks", "slow.checks", "memory.few.checks", "memory.many.checks")


@dataclass(frozen=True)
class Target:
    name: str
    figure: str  # dotted path into the results
    baseline: str | None  # dotted path; None: the figure is compared with `bound` itself
    bound: float
    at_least: bool  # figure / baseline >= bound, else <= bound


TARGETS = [
    Target("accept path / bare FastAPI+JWT (req/s)", "http.accept_max.accepted_per_s",
           "http.bare_api.accepted_per_s", 0.5, True),
    Target("accept path / Kafka-only accept, same concurrency (req/s)", "http.accept_max.accepted_per_s",
           "http.kafka_accept.accepted_per_s", 0.8, True),
    Target("accept path with the backlog (1M) queued / with none (req/s)", "http.accept_backlog.accepted_per_s",
           "http.accept_max.accepted_per_s", 0.9, True),
    Target("worker demo.echo / naive worker (rec/s)", "http.worker_echo.per_s", "http.naive_worker.per_s", 10.0, True),
    Target("worker demo.echo / PostgreSQL batch upsert (rows/s)", "http.worker_echo.per_s",
           "http.pg_upsert.per_s", 0.25, True),
    Target("end-to-end p99 at the fixed rate (ms)", "http.end_to_end.p99_ms", None, 50.0, False),
    Target("worker demo.echo (rec/s)", "http.worker_echo.per_s", None, 10_000.0, True),
    Target("demo.sleep 10 ms, 200 users, 1 partition / sequential", "sleep.per_s", "sleep.sequential_per_s", 120.0,
           True),
    Target("demo.sleep 100 ms, 2,000 users, 1 partition / sequential", "sleep.wide.per_s",
           "sleep.wide.sequential_per_s", 1_000.0, True),
    Target("7 x demo.sleep 10 s in one batch, done after (s)", "slow.batch.done_after_s", None, 75.0, False),
    Target("others' end-to-end p99 during it / before it", "slow.others_during.p99_ms", "slow.others_before.p99_ms",
           1.5, False),
    Target("worker peak RSS, many users / few users", "memory.many.peak_rss_kib", "memory.few.peak_rss_kib", 1.2,
           False),
]  # fmt: skip
# Ratios without a target: how close to the tools' own limits we are.
LIMITS = [
    ("accepted/s / Kafka producer perf (rec/s)", "http.accept_max.accepted_per_s", "http.kafka.producer.per_s"),
    ("worker rec/s / Kafka consumer perf (fetch rec/s)", "http.worker_echo.per_s", "http.kafka.consumer.fetch_per_s"),
    ("accepted/s / generator ceiling (req/s)", "http.accept_max.accepted_per_s",
     "http.generator_ceiling.accepted_per_s"),
]  # fmt: skip


def lookup(results: dict[str, Any], path: str) -> Any:
    value: Any = results
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _ratio(figure: Any, baseline: Any) -> float | None:
    if not isinstance(figure, int | float) or not isinstance(baseline, int | float) or not baseline:
        return None
    return float(f"{figure / baseline:.4g}")


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its figure, baseline, ratio and whether it was met (None: not measured)."""
    out = []
    for t in TARGETS:
        figure = lookup(results, t.figure)
        baseline = lookup(results, t.baseline) if t.baseline else None
        value = _ratio(figure, baseline) if t.baseline else figure
        met = None if not isinstance(value, int | float) else (value >= t.bound if t.at_least else value <= t.bound)
        out.append(
            {
                "name": t.name,
                "figure": figure,
                "baseline": baseline,
                "value": value,
                "target": f"{'>=' if t.at_least else '<='} {t.bound:g}",
                "met": met,
            }
        )
    return out


def limits(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "figure": lookup(results, f), "baseline": lookup(results, b),
         "value": _ratio(lookup(results, f), lookup(results, b))}
        for name, f, b in LIMITS
    ]  # fmt: skip


# (label, dotted path, unit) of the figures table
FIGURES = [
    ("accepted/s at the maximum", "http.accept_max.accepted_per_s", "/s"),
    ("accept latency p50 / p99 at the maximum", ("http.accept_max.latency_p50_ms", "http.accept_max.latency_p99_ms"),
     "ms"),
    ("accepted/s at the maximum with the backlog queued", "http.accept_backlog.accepted_per_s", "/s"),
    ("accept latency p50 / p99 with the backlog queued", ("http.accept_backlog.latency_p50_ms",
                                                          "http.accept_backlog.latency_p99_ms"), "ms"),
    ("backlog: queued, of each measuring user, other users", ("http.accept_backlog.queued",
     "http.accept_backlog.queued_per_user", "http.accept_backlog.queued_users"), ""),
    ("backlog preload (records and rows, vacuum)", "http.accept_backlog.preload_s", "s"),
    ("accepted/s at the fixed rate (target)", ("http.accept_rate.accepted_per_s", "http.accept_rate.target_rate_per_s"),
     "/s"),
    ("accept latency p50 / p99 at the fixed rate", ("http.accept_rate.latency_p50_ms",
                                                    "http.accept_rate.latency_p99_ms"), "ms"),
    ("end-to-end p50 / p99 at the fixed rate", ("http.end_to_end.p50_ms", "http.end_to_end.p99_ms"), "ms"),
    ("peak lag at the fixed rate", "http.end_to_end.peak_lag", "records"),
    ("worker throughput, demo.echo", "http.worker_echo.per_s", "/s"),
    ("peak lag while draining", "http.worker_echo.peak_lag", "records"),
    ("demo.sleep 10 ms, 200 users (sequential would be)", ("sleep.per_s", "sleep.sequential_per_s"), "/s"),
    ("demo.sleep 100 ms, 2,000 users (sequential would be)", ("sleep.wide.per_s", "sleep.wide.sequential_per_s"),
     "/s"),
    ("7 x demo.sleep 10 s in one batch: done after", "slow.batch.done_after_s", "s"),
    ("others' end-to-end p99 before / during it", ("slow.others_before.p99_ms", "slow.others_during.p99_ms"), "ms"),
    ("worker peak RSS, few / many users", ("memory.few.peak_rss_kib", "memory.many.peak_rss_kib"), "KiB"),
    ("memory phase users, few / many", ("memory.few.users", "memory.many.users"), ""),
    ("worker throughput in the memory phase, few / many", ("memory.few.per_s", "memory.many.per_s"), "/s"),
    ("bare FastAPI+JWT", "http.bare_api.accepted_per_s", "/s"),
    ("Kafka-only accept (JWT, produce, ack; no PostgreSQL)", "http.kafka_accept.accepted_per_s", "/s"),
    ("Kafka-only accept latency p50 / p99", ("http.kafka_accept.latency_p50_ms", "http.kafka_accept.latency_p99_ms"),
     "ms"),
    ("generator ceiling (no-op route)", "http.generator_ceiling.accepted_per_s", "/s"),
    ("generator CPU per process at the maximum", "http.accept_max.generator_cpu_per_process", "cores"),
    ("naive worker", "http.naive_worker.per_s", "/s"),
    ("PostgreSQL batch upsert", "http.pg_upsert.per_s", "rows/s"),
    ("Kafka producer perf", "http.kafka.producer.per_s", "/s"),
    ("Kafka consumer perf (fetch)", "http.kafka.consumer.fetch_per_s", "/s"),
]  # fmt: skip


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    """The figures, the checks, the limits and the targets, as aligned text."""
    run = results.get("run", {})
    lines = [
        f"userq bench ({run.get('mode')}) {run.get('started_at')}: {run.get('machine', {}).get('summary', '')}",
        "",
    ]
    width = max(len(label) for label, _p, _u in FIGURES) + 2
    for label, paths, unit in FIGURES:
        shown = " / ".join(_show(lookup(results, p)) for p in ((paths,) if isinstance(paths, str) else paths))
        lines.append(f"  {label.ljust(width)}{shown} {unit}".rstrip())
    lines += ["", "correctness"]
    for section in CHECKS:
        found = lookup(results, section)
        if isinstance(found, dict):
            keys = ("accepted", "lost", "terminal", "not_terminal", "duplicated", "order_violations",
                    "client_order_violations", "result_events")  # fmt: skip
            detail = ", ".join(f"{k} {found[k]}" for k in keys if k in found)
            lines.append(f"  {section.ljust(20)}{'passed' if found['passed'] else 'FAILED'}: {detail}")
    lines += ["", "limits (ratio of our figure to the tool's)"]
    for row in limits(results):
        lines.append(f"  {row['name'].ljust(width + 8)}{_show(row['value'])}")
    lines += ["", "targets"]
    for row in targets(results):
        met = {True: "met", False: "NOT MET", None: "not measured"}[row["met"]]
        lines.append(f"  {row['name'].ljust(width + 8)}{_show(row['value']).rjust(10)}  ({row['target']}) {met}")
    for phase, error in results.get("errors", {}).items():
        lines.append(f"  phase {phase} FAILED: {error.splitlines()[0] if error else ''}")
    return "\n".join(lines)


def write(results: dict[str, Any], directory: Path = RESULTS_DIR, latest: str = "latest.json") -> Path:
    """bench/results/<mode>-<time>.json, and the same as `latest`."""
    directory.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    path = directory / f"{results['run']['mode']}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_bytes(body)
    (directory / latest).write_bytes(body)
    return path
