"""Rebalance churn and a zombie: workers join and leave every few seconds; a worker frozen past the poll
interval wakes up after its partitions moved on and must not write over the new owner."""

from __future__ import annotations

import signal
import time

from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, run_scenario
from tests.support.stack import Stack

# A frozen worker is noticed in seconds, and its transaction does not hold users' locks for long.
QUICK_GROUP = {"SESSION_TIMEOUT_MS": "6000", "MAX_POLL_INTERVAL_MS": "10000", "DB_IDLE_IN_TRANSACTION_TIMEOUT_S": "4"}


def test_workers_join_and_leave_every_few_seconds(stack: Stack, api: str) -> None:
    workers = [stack.start_worker(**FAST_RETRIES)]

    def inject(load: Load) -> int:
        changes = 0
        for round_ in range(8):
            time.sleep(1.5)
            if round_ % 3 == 2 and len([w for w in workers if w.alive()]) > 1:
                leaving = next(w for w in workers if w.alive())
                leaving.stop()
            else:
                workers.append(stack.start_worker(**FAST_RETRIES))
            changes += 1
        return changes

    outcome = run_scenario(stack, api, "rebalance churn", inject, per_user=120)
    assert outcome.report.problems == []


def test_a_zombie_worker_does_not_write_over_the_new_owner(stack: Stack, api: str) -> None:
    zombie = stack.start_worker(**FAST_RETRIES, **QUICK_GROUP)
    survivor = stack.start_worker(**FAST_RETRIES, **QUICK_GROUP)

    def inject(load: Load) -> int:
        time.sleep(2)
        zombie.signal(signal.SIGSTOP)
        time.sleep(12)  # past the session timeout and the poll interval: the group moves on
        zombie.signal(signal.SIGCONT)
        return 1

    outcome = run_scenario(stack, api, "zombie (SIGSTOP past the poll interval)", inject, per_user=150)
    assert outcome.report.problems == []
    assert "partitions lost" in zombie.log_path.read_text() or "revoked" in zombie.log_path.read_text()
    assert survivor.alive()
