"""How a request's row changes, computed in memory (`schemas.lifecycle`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.lifecycle import (
    IllegalTransition,
    Queue,
    RequestRow,
    Status,
    cancelled,
    claimed,
    finished,
    paused,
    redriven,
    resumed,
    retrying,
)
from stream_worker.clock import Clock

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _row(**changes: object) -> RequestRow:
    fields: dict[str, object] = {
        "request_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "type": "demo.echo",
        "payload": {},
        "status": "queued",
        "attempts": 0,
        "result": None,
        "error": None,
        "accepted_at": T0,
        "started_at": None,
        "completed_at": None,
        "sequence": 7,
        "kafka_partition": 0,
        "processed_seq": None,
        "parked": True,
        "next_attempt_at": None,
        "first_failed_at": None,
        "last_failed_at": None,
        "attempts_before_redrive": 0,
        "trace_id": "t",
    }
    return RequestRow(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_success_is_terminal_with_its_sequence_and_leaves_the_failure_times_alone() -> None:
    row = _row(status="retrying", attempts=1, first_failed_at=T0, last_failed_at=T0, next_attempt_at=T0)
    start, end = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    done = finished(row, Status.SUCCEEDED, 2, start, end, 5, {"ok": True})
    assert (done.status, done.attempts, done.result, done.error) == (Status.SUCCEEDED, 2, {"ok": True}, None)
    assert (done.started_at, done.completed_at, done.processed_seq) == (start, end, 5)
    assert (done.parked, done.next_attempt_at) == (False, None)
    assert (done.first_failed_at, done.last_failed_at) == (T0, T0)
    assert row.status is Status.RETRYING, "the row given is left as it was"


def test_a_dead_letter_keeps_the_first_failure_and_sets_the_last() -> None:
    end = T0 + timedelta(seconds=9)
    first = finished(_row(), Status.DEAD_LETTERED, 1, T0, end, 1, error={"cause": "permanent"})
    assert (first.first_failed_at, first.last_failed_at, first.error) == (end, end, {"cause": "permanent"})
    again = finished(_row(first_failed_at=T0), Status.DEAD_LETTERED, 3, T0, end, 2, error={})
    assert (again.first_failed_at, again.last_failed_at) == (T0, end)


def test_the_first_start_is_kept_across_attempts() -> None:
    later = T0 + timedelta(seconds=5)
    assert finished(_row(started_at=T0), Status.SUCCEEDED, 2, later, later, 1, {}).started_at == T0


def test_a_transient_failure_schedules_the_retry_from_the_failure() -> None:
    at = T0 + timedelta(seconds=3)
    row = retrying(_row(), 1, T0, at, 2.5, {"kind": "transient"})
    assert (row.status, row.attempts, row.error, row.parked) == (Status.RETRYING, 1, {"kind": "transient"}, False)
    assert row.next_attempt_at == at + timedelta(seconds=2.5)
    assert (row.started_at, row.first_failed_at, row.last_failed_at) == (T0, at, at)
    assert row.processed_seq is None and row.completed_at is None


def test_only_a_running_request_can_end() -> None:
    with pytest.raises(IllegalTransition):
        finished(_row(), Status.QUEUED, 1, T0, T0, 1)
    with pytest.raises(IllegalTransition):
        finished(_row(), Status.CANCELLED, 1, T0, T0, 1)


def test_the_clock_starts_at_the_database_time_and_moves_on() -> None:
    clock = Clock(T0)
    first, second = clock.now(), clock.now()
    assert T0 <= first <= second < T0 + timedelta(seconds=1)


def test_a_purge_cancels_a_queued_request_in_the_users_order() -> None:
    row = cancelled(_row(), T0, 4, "purged by the user")
    assert (row.status, row.processed_seq, row.completed_at, row.parked) == (Status.CANCELLED, 4, T0, False)
    assert row.error == {"kind": "cancelled", "message": "purged by the user"}
    with pytest.raises(IllegalTransition):
        cancelled(_row(status="processing"), T0, 5, "purged")


def test_a_redrive_retries_the_first_dead_letter_and_parks_the_others_behind_it() -> None:
    dead = _row(status="dead_lettered", attempts=3, processed_seq=2, completed_at=T0, parked=False)
    first, behind = redriven(dead, T0, first=True), redriven(dead, T0, first=False)
    assert (first.status, first.next_attempt_at, first.parked) == (Status.RETRYING, T0, False)
    assert (behind.status, behind.parked) == (Status.QUEUED, True)
    assert first.attempts_before_redrive == 3 and first.processed_seq is None and first.completed_at is None
    with pytest.raises(IllegalTransition):
        redriven(_row(status="succeeded"), T0, first=True)


def test_an_operators_pause_wins_over_a_users() -> None:
    queue = Queue(uuid.uuid4(), None, None, None, 0, False)
    assert paused(queue, "user").paused_by == "user"
    assert paused(paused(queue, "admin"), "user").paused_by == "admin"
    assert not resumed(paused(queue, "admin")).paused


def test_a_claim_marks_the_request_running_driven_by_a_partition() -> None:
    row = claimed(_row(), T0, "userq.requests:3")
    assert (row.status, row.started_at, row.claimed_from) == (Status.PROCESSING, T0, "userq.requests:3")
    with pytest.raises(IllegalTransition):
        claimed(_row(status="succeeded"), T0, "userq.requests:3")
