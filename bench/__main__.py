"""`python -m bench [--quick]`: the benchmark of issue 6; `make bench` runs the full default.

Takes Kafka and PostgreSQL the way the tests do (`harness.services.provide`: given, or started
from infra/local and stopped again), runs the phases (`bench.phases`), prints a table and writes it all
as JSON under bench/results/. Exits 1 when a phase failed or a correctness check did not pass; a target
not met is a figure, not a failure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import traceback
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import phases, report
from bench.baselines import KAFKA_VERSION
from bench.plan import FULL, QUICK, Plan
from bench.report import CHECKS
from harness.services import Services, provide
from runtime.logs import configure_logging

_OVERRIDES = {
    "users": "N: distinct users of the HTTP phases",
    "per_user": "M: requests of each user per HTTP phase",
    "window": "requests in flight at most at the maximum",
    "backlog": "requests queued when the maximum is measured again",
    "backlog_per_user": "of them, each of the N users' own",
    "backlog_users": "other users holding the rest of the backlog",
    "partitions": "partitions of the main topics",
    "api_workers": "uvicorn processes of the API and of the bare endpoint",
    "load_processes": "load generator processes",
    "sleep_per_user": "demo.sleep requests of each of the 200 users",
    "wide_users": "users of the second demo.sleep shape (100 ms)",
    "memory_records": "records of each memory run",
    "memory_users_few": "distinct users of the first memory run",
    "memory_users_many": "distinct users of the second memory run",
    "kafka_records": "records of the Kafka perf tools",
    "pg_rows": "rows of the PostgreSQL upsert baseline",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny sizes, a minute or two (longer on a busy machine)"
    )
    parser.add_argument(
        "--phases", default="http,sleep,slow,memory", help="comma-separated subset of http, sleep, slow, memory"
    )
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    for name, help_ in _OVERRIDES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, help=help_)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = replace(plan, **{k: getattr(args, k) for k in _OVERRIDES if getattr(args, k) is not None})
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(wanted) - {"http", "sleep", "slow", "memory"}
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    configure_logging("WARNING", "console")  # the stacks' own set-up lines would bury the progress
    results = bench(plan, wanted)
    path = report.write(results, args.results_dir)
    print(report.table(results))
    print(f"\nwritten to {path}")
    failed = results["errors"] or any(
        isinstance(check, dict) and not check.get("passed") for check in (report.lookup(results, p) for p in CHECKS)
    )
    return 1 if failed else 0


def bench(plan: Plan, wanted: list[str]) -> dict[str, Any]:
    """Run the `wanted` phases of `plan`; the results, with `targets` and `errors` (phase -> traceback)."""
    progress = phases.Progress()
    started = datetime.now(UTC)
    log_dir = Path(tempfile.mkdtemp(prefix="userq-bench-"))
    results: dict[str, Any] = {"errors": {}}
    progress.phase(f"{plan.mode} run; process logs in {log_dir}")
    with provide() as services:
        results["run"] = {
            "mode": plan.mode,
            "started_at": started.isoformat(timespec="seconds"),
            "plan": plan.as_dict(),
            "machine": machine(services),
            "logs": str(log_dir),
        }
        ctx = phases.Context(services, plan, log_dir, progress)
        for name in wanted:
            try:
                results[name] = getattr(phases, name)(ctx)
            except Exception:
                results["errors"][name] = traceback.format_exc()
                progress.phase(f"phase {name} failed:\n{results['errors'][name]}")
    results["run"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["run"]["load_average_after"] = os.getloadavg()
    results["targets"] = report.targets(results)
    results["limits"] = report.limits(results)
    progress.phase("done")
    return results


def machine(services: Services) -> dict[str, Any]:
    """What the figures were measured on, including how busy it was when the run began."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        memory_kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("show server_version").fetchone()
    postgres = str(row[0]) if row else "unknown"
    cores = os.cpu_count() or 0
    load = os.getloadavg()
    return {
        "cpu": model,
        "cores": cores,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "kafka": KAFKA_VERSION,
        "load_average_before": load,
        "summary": f"{cores} cores ({model}), {memory_kib / 1024 / 1024:.0f} GiB, PostgreSQL {postgres},"
        f" Kafka {KAFKA_VERSION}, Python {platform.python_version()}, load average {load[0]:.1f} at start",
    }


if __name__ == "__main__":
    sys.exit(main())
