"""One shape for every fault scenario: steady load from several users, a fault in the middle, then the checker.

Each scenario's figures (accepted, faults injected, lost, duplicated, order violations, time to drain)
are printed at the end of the test run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import LiteralString

from harness.checks import Report, check
from harness.mix import ledger_mix
from harness.stack import Stack
from tests.support.load import Load
from tests.support.waits import wait_until

# Workers in fault scenarios retry quickly, so that flaky requests settle within the run.
FAST_RETRIES = {"RETRY_BASE_DELAY_S": "0.05", "RETRY_MAX_DELAY_S": "0.5"}
RESULTS: list[str] = []


@dataclass
class Outcome:
    report: Report
    faults: int
    drain_s: float
    refused: int


def run_scenario(
    stack: Stack,
    api: str,
    name: str,
    inject: Callable[[Load], int],
    users: int = 6,
    per_user: int = 80,
    seed: int = 1,
    sleep_ms: int = 3,
    pace_s: float = 0.0,
) -> Outcome:
    """Start the load, call `inject(load)` (returns how many faults it injected), wait for the load and
    the drain, check everything. Workers are the caller's to start."""
    rng = random.Random(seed)
    clients = [stack.client(api) for _ in range(users)]
    plans = [ledger_mix(rng, per_user, sleep_ms=sleep_ms, failures=True) for _ in clients]
    load = Load(clients, plans, pace_s=pace_s).start()
    faults = inject(load)
    load.join()
    started = time.monotonic()
    stack.wait_terminal(load.total, timeout=180)
    drain_s = time.monotonic() - started
    report = check(stack, load.accepted)
    RESULTS.append(f"{name}: {report.summary()} faults={faults} refused={load.refused} drain_s={drain_s:.1f}")
    return Outcome(report, faults, drain_s, load.refused)


def progress(stack: Stack, requests: int = 25, timeout: float = 60) -> None:
    """Return once `requests` more requests are terminal than now: the load flows and the workers work
    (so that a fault injected next lands mid-work)."""
    before = terminal_count(stack)
    wait_until(lambda: terminal_count(stack) >= before + requests, timeout, f"{requests} more terminal requests")


def terminal_count(stack: Stack) -> int:
    return _count(stack, "select count(*) from requests where processed_seq is not null")


def outbox_count(stack: Stack) -> int:
    """Outbox rows not delivered yet (or delivered and not deleted yet)."""
    return _count(stack, "select count(*) from outbox")


def _count(stack: Stack, query: LiteralString) -> int:
    with stack.db() as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    count: int = row[0]
    return count
