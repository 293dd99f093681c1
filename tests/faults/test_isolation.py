"""Isolation: a user whose request waits 30 s for its retry holds up no one else on its partition."""

from __future__ import annotations

import statistics

import pytest

from harness.checks import check
from harness.stack import Client, Stack
from tests.support.load import Load
from tests.support.scenario import RESULTS

pytestmark = pytest.mark.partitions(1)  # every user shares the one partition
USERS = 4
PER_USER = 40


def _latencies(stack: Stack, clients: list[Client]) -> list[float]:
    with stack.db() as conn:
        rows = conn.execute(
            "select extract(epoch from completed_at - accepted_at) from requests where user_id = any(%s::uuid[])",
            ([c.user_id for c in clients],),
        ).fetchall()
    return [float(row[0]) for row in rows]


def _run_others(stack: Stack, api: str, held: int) -> tuple[list[Client], dict[str, list[str]]]:
    """Users submitting at a steady pace; returns once their requests are done (`held` others wait on)."""
    clients = [stack.client(api) for _ in range(USERS)]
    plans = [[("ledger.deposit", {"amount": 1})] * PER_USER for _ in clients]
    load = Load(clients, plans, tolerate_refusals=False, pace_s=0.02).start()
    load.join()
    stack.wait_terminal(load.total, timeout=60, pending=held)
    return clients, load.accepted


def test_a_30_second_backoff_does_not_slow_other_users_on_its_partition(stack: Stack, api: str) -> None:
    stack.start_worker()
    baseline_clients, baseline = _run_others(stack, api, held=0)
    before = statistics.median(_latencies(stack, baseline_clients))

    slow = stack.client(api)
    held = [slow.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 30})["request_id"]]
    held += [slow.submit("ledger.deposit", {"amount": 3})["request_id"] for _ in range(10)]
    others, accepted = _run_others(stack, api, held=len(held))
    during = statistics.median(_latencies(stack, others))

    with stack.db() as conn:
        statuses = conn.execute(
            "select status, count(*) from requests where user_id = %s group by 1", (slow.user_id,)
        ).fetchall()
    assert sorted(statuses) == [("queued", 10), ("retrying", 1)], "the slow user must still be waiting"
    RESULTS.append(
        f"isolation: median latency of other users {before * 1000:.1f} ms without a held user, "
        f"{during * 1000:.1f} ms with one in a 30 s backoff (ratio {during / before:.2f})"
    )
    assert during <= 1.2 * before + 0.010, f"{during:.4f} s with the held user, {before:.4f} s without"

    stack.wait_terminal(1 + 2 * USERS * PER_USER + 10, timeout=90)
    report = check(stack, {**baseline, **accepted, slow.user_id: held})
    assert report.problems == []
