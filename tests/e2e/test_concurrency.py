"""Key-level concurrency: on one partition, distinct users' waiting handlers run side by side, up to
`MAX_CONCURRENCY_PER_WORKER`, while each user's requests still run one at a time, in order."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.checks import check
from tests.support.stack import Stack

pytestmark = pytest.mark.partitions(1)  # every user on one partition: side by side only within a batch

USERS, PER_USER, SLEEP_MS = 12, 3, 300


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


@pytest.mark.parametrize("width", [1, 4])
def test_users_wait_side_by_side_up_to_the_bound_each_one_at_a_time(stack: Stack, api: str, width: int) -> None:
    clients = [stack.client(api) for _ in range(USERS)]
    accepted: dict[str, list[str]] = {c.user_id: [] for c in clients}
    for _ in range(PER_USER):  # interleaved, all accepted before the worker starts: a few large batches
        for client in clients:
            accepted[client.user_id].append(client.submit("demo.sleep", {"ms": SLEEP_MS})["request_id"])
    stack.start_worker(MAX_CONCURRENCY_PER_WORKER=str(width))
    stack.wait_terminal(USERS * PER_USER, timeout=120)

    with stack.db() as conn:
        rows = conn.execute(
            "select user_id::text, started_at, completed_at from requests where status = 'succeeded' order by sequence"
        ).fetchall()
    assert len(rows) == USERS * PER_USER
    everyone = [(started, completed) for _, started, completed in rows]
    assert _most_at_once(everyone) <= width  # the bound holds
    if width > 1:
        assert _most_at_once(everyone) >= 2  # and distinct users did wait side by side
    for user_id in accepted:
        own = [(started, completed) for uid, started, completed in rows if uid == user_id]
        assert _most_at_once(own) == 1  # one user's requests never overlap (and run in order: the checker)
    assert check(stack, accepted).problems == []
