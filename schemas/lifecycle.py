"""The life of a request: its states, its row, and every change of them (pure, no I/O).

One state machine for the whole system: the worker (an attempt's outcome, a claim, a park) and the API's
operator actions (purge, redrive) make a request's new row with these functions, and `store.requests`
writes it back with one statement. `transition` refuses what the life of a request does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCEEDED, Status.DEAD_LETTERED, Status.CANCELLED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.PROCESSING, Status.CANCELLED, Status.DEAD_LETTERED}),
    Status.PROCESSING: frozenset({Status.SUCCEEDED, Status.RETRYING, Status.DEAD_LETTERED}),
    Status.RETRYING: frozenset({Status.PROCESSING, Status.DEAD_LETTERED}),
    Status.SUCCEEDED: frozenset(),
    # only by an operator's redrive: the first redriven request retries, the others queue behind it
    Status.DEAD_LETTERED: frozenset({Status.RETRYING, Status.QUEUED}),
    Status.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, current: Status, new: Status) -> None:
        super().__init__(f"a request cannot go from {current} to {new}")
        self.current = current
        self.new = new


def transition(current: Status, new: Status) -> Status:
    """Return `new` when a request in `current` may move there; raise `IllegalTransition` otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(current, new)
    return new


HoldReason = Literal["retrying", "halted"]
Actor = Literal["user", "admin"]  # who acts on a queue from the API


@dataclass
class RequestRow:
    request_id: UUID
    user_id: UUID
    type: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    accepted_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    sequence: int | None
    kafka_partition: int | None
    processed_seq: int | None
    parked: bool
    next_attempt_at: datetime | None
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    attempts_before_redrive: int
    trace_id: str
    claimed_from: str | None = None  # 'topic:partition' of the record that drives its run (when processing;
    # None then: its worker gave the run up, see store.requests.release)
    claims: int = 0  # runs of its current attempt alone, as a suspect, without an outcome (crashes: see 0012)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def in_retry(self) -> bool:
        """Waiting for a retry, or running one: the retry topic brings it back, not the requests topic."""
        return self.status is Status.RETRYING or (self.status is Status.PROCESSING and self.next_attempt_at is not None)


@dataclass
class Queue:
    """A user's queue as this transaction holds it locked."""

    user_id: UUID
    held_by: UUID | None
    hold_reason: HoldReason | None
    paused_by: Actor | None  # who paused it: an operator's pause wins over a user's
    processed_count: int  # the user's terminal requests so far: the next one gets processed_count + 1
    has_parked: bool  # whether any request of the user waits parked

    @property
    def paused(self) -> bool:
        return self.paused_by is not None

    @property
    def blocked(self) -> bool:
        """Nothing of the user's may start: a request holds the rest back, or the queue is paused."""
        return self.held_by is not None or self.paused


@dataclass(frozen=True)
class Event:
    """One entry of the request log: a request reached `status` at `at`, in its attempt `attempt`."""

    user_id: UUID
    request_id: UUID
    status: str
    attempt: int
    at: datetime
    error: dict[str, Any] | None = None


def finished(
    row: RequestRow,
    status: Status,
    attempt: int,
    started_at: datetime,
    at: datetime,
    processed_seq: int,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> RequestRow:
    """`row` after its attempt `attempt` made it terminal at `at`, the user's `processed_seq`-th."""
    transition(Status.PROCESSING, status)
    failed = status is Status.DEAD_LETTERED
    return replace(
        row,
        status=status,
        attempts=attempt,
        result=result,
        error=error,
        started_at=row.started_at or started_at,
        completed_at=at,
        parked=False,
        next_attempt_at=None,
        first_failed_at=(row.first_failed_at or at) if failed else row.first_failed_at,
        last_failed_at=at if failed else row.last_failed_at,
        processed_seq=processed_seq,
        claims=0,
    )


def retrying(
    row: RequestRow, attempt: int, started_at: datetime, at: datetime, delay_s: float, error: dict[str, Any]
) -> RequestRow:
    """`row` after its attempt `attempt` failed transiently at `at`: tried again `delay_s` later."""
    return replace(
        row,
        status=transition(Status.PROCESSING, Status.RETRYING),
        attempts=attempt,
        error=error,
        parked=False,
        started_at=row.started_at or started_at,
        next_attempt_at=at + timedelta(seconds=delay_s),
        first_failed_at=row.first_failed_at or at,
        last_failed_at=at,
        claims=0,
    )


def claimed(row: RequestRow, at: datetime, source: str) -> RequestRow:
    """`row` starts running at `at`, driven by a record of the partition `source` ('topic:partition')."""
    return replace(
        row, status=transition(row.status, Status.PROCESSING), started_at=row.started_at or at, claimed_from=source
    )


def cancelled(row: RequestRow, at: datetime, processed_seq: int, reason: str) -> RequestRow:
    """`row`, still queued, cancelled at `at` (a purge) as the user's `processed_seq`-th terminal request."""
    return replace(
        row,
        status=transition(row.status, Status.CANCELLED),
        completed_at=at,
        parked=False,
        processed_seq=processed_seq,
        error={"kind": "cancelled", "message": reason},
    )


def redriven(row: RequestRow, at: datetime, first: bool) -> RequestRow:
    """`row`, dead-lettered, back in its user's order: the `first` redriven request retries at `at`, the
    others queue parked behind it. Its attempts so far stay on record; its own attempts count anew."""
    return replace(
        row,
        status=transition(row.status, Status.RETRYING if first else Status.QUEUED),
        next_attempt_at=at if first else row.next_attempt_at,
        parked=not first,
        attempts_before_redrive=row.attempts,
        processed_seq=None,
        completed_at=None,
        result=None,
    )


def paused(queue: Queue, by: Actor) -> Queue:
    """`queue` paused by `by`: an operator's pause wins over a user's, whichever came first."""
    return replace(queue, paused_by="admin" if queue.paused_by == "admin" else by)


def resumed(queue: Queue) -> Queue:
    return replace(queue, paused_by=None)
