"""Thousands of users in flight on one partition and one worker: their handlers wait side by side on the
worker's event loop, while each user's requests still run one at a time, in order."""

from __future__ import annotations

from datetime import datetime

import pytest

from bench import preload, users
from harness.checks import check
from harness.stack import Stack

pytestmark = pytest.mark.partitions(1)  # every user on one partition

USERS, PER_USER, SLEEP_MS = 2000, 3, 500


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def test_thousands_of_users_wait_side_by_side_each_one_at_a_time(stack: Stack) -> None:
    ids = users.create(stack.database_url, USERS, "many")
    preload.preload(stack.settings, ids, USERS * PER_USER, "demo.sleep", {"ms": SLEEP_MS})
    stack.start_worker()
    stack.wait_terminal(USERS * PER_USER, timeout=300)

    with stack.db() as conn:
        rows = conn.execute(
            "select user_id::text, started_at, completed_at from requests where status = 'succeeded' order by sequence"
        ).fetchall()
    assert len(rows) == USERS * PER_USER
    everyone = [(started, completed) for _, started, completed in rows]
    assert _most_at_once(everyone) >= USERS // 2  # thousands waited at once (32 threads used to be the cap)
    by_user: dict[str, list[tuple[datetime, datetime]]] = {}
    for user_id, started, completed in rows:
        by_user.setdefault(user_id, []).append((started, completed))
    assert all(_most_at_once(own) == 1 for own in by_user.values())  # one user's never overlap
    assert check(stack, {}).problems == []  # and each user's ran in order, once, each announced once
