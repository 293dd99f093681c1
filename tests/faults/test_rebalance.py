"""Rebalance churn and a zombie: workers join and leave every few seconds; a worker frozen past the poll
interval wakes up after its partitions moved on and must not write over the new owner."""

from __future__ import annotations

import signal
import time

from confluent_kafka import Producer

from harness.stack import Stack
from tests.support.checks import read_messages
from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, run_scenario

# A frozen worker is noticed in seconds, and its transaction does not hold users' locks for long.
QUICK_GROUP = {"SESSION_TIMEOUT_MS": "6000", "MAX_POLL_INTERVAL_MS": "10000", "DB_IDLE_IN_TRANSACTION_TIMEOUT_S": "4"}


def test_workers_join_and_leave_every_few_seconds_with_malformed_records(stack: Stack, api: str) -> None:
    workers = [stack.start_worker(**FAST_RETRIES)]
    garbage = Producer({"bootstrap.servers": stack.services.kafka})

    def inject(load: Load) -> int:
        changes = 0
        for round_ in range(8):
            time.sleep(1.5)
            garbage.produce(stack.settings.requests_topic, b"\x00 not a request %d" % round_, b"nobody")
            garbage.flush(10)
            if round_ % 3 == 2 and len([w for w in workers if w.alive()]) > 1:
                leaving = next(w for w in workers if w.alive())
                leaving.stop()
            else:
                workers.append(stack.start_worker(**FAST_RETRIES))
            changes += 1
        return changes

    outcome = run_scenario(stack, api, "rebalance churn + malformed records", inject, per_user=120)
    assert outcome.report.problems == []
    unreadable = [
        m for m in read_messages(stack, stack.settings.dlq_topic) if m.headers.get("userq.dlq.cause") == "unprocessable"
    ]
    assert {m.value for m in unreadable} == {b"\x00 not a request %d" % n for n in range(8)}


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
