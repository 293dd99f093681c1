"""The checker's order rules (`harness.checks.order_problems`), on rows made by hand: what a purge
during a retry may do to `processed_seq`, and what nothing may."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from harness.checks import order_problems

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _row(n: int, status: str, seq: int, started: float | None, completed: float) -> dict[str, Any]:
    return {
        "request_id": f"r{n}",
        "status": status,
        "processed_seq": seq,
        "started_at": None if started is None else T0 + timedelta(seconds=started),
        "completed_at": T0 + timedelta(seconds=completed),
    }


def test_requests_cancelled_while_an_earlier_one_waits_for_its_retry_are_numbered_before_it() -> None:
    rows = [
        _row(1, "succeeded", 3, started=0, completed=5),  # retrying when the purge came at 2
        _row(2, "cancelled", 1, started=None, completed=2),
        _row(3, "cancelled", 2, started=None, completed=2),
        _row(4, "succeeded", 4, started=6, completed=7),
    ]
    assert order_problems(rows) == []


def test_a_cancellation_numbered_before_a_request_that_had_not_started_is_a_violation() -> None:
    rows = [
        _row(1, "succeeded", 2, started=3, completed=4),  # started after the purge: it was queued then
        _row(2, "cancelled", 1, started=None, completed=2),
    ]
    assert order_problems(rows) == ["r2 cancelled before r1, which had not started"]


def test_requests_that_ran_out_of_order_gaps_and_early_starts_are_violations() -> None:
    swapped = [_row(1, "succeeded", 2, 0, 1), _row(2, "succeeded", 1, 2, 3)]
    assert "the requests that ran are numbered out of sequence order" in order_problems(swapped)
    gap = [_row(1, "succeeded", 1, 0, 1), _row(2, "succeeded", 3, 2, 3)]
    assert order_problems(gap) == ["processed_seq in sequence order is [1, 3]…, not a permutation of 1..n"]
    early = [_row(1, "succeeded", 1, 0, 5), _row(2, "cancelled", 2, None, 1), _row(3, "succeeded", 3, 4, 6)]
    assert order_problems(early) == ["r3 started before a request ahead of it finished"]
    overtaken = [_row(1, "cancelled", 2, None, 5), _row(2, "succeeded", 1, 0, 1)]
    assert "r2 finished before r1 ahead of it was cancelled" in order_problems(overtaken)
