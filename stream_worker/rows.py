"""The rows a batch works on, and how an attempt changes them (pure, no I/O).

A batch locks its users' queue rows and its requests' rows, decides everything in memory and writes the
changed rows back in a few set-based statements (`store.write`). While the locks are held our copies are
the truth, so the new state of a row is computed here, not read back from PostgreSQL. Times come from a
`Clock` anchored on PostgreSQL's clock, so that they compare with what the API wrote (`accepted_at`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from schemas.lifecycle import Status, transition
from schemas.records import RequestRecord

HoldReason = Literal["retrying", "halted"]


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
    claimed_from: str | None = None  # 'topic:partition' of the record that drives its run (when processing)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def in_retry(self) -> bool:
        """Waiting for a retry, or running one: the retry topic brings it back, not the requests topic."""
        return self.status is Status.RETRYING or (self.status is Status.PROCESSING and self.next_attempt_at is not None)

    def as_record(self) -> RequestRecord:
        return RequestRecord(
            request_id=self.request_id,
            user_id=self.user_id,
            type=self.type,
            payload=self.payload,
            accepted_at=self.accepted_at,
            trace_id=self.trace_id,
        )


@dataclass
class Queue:
    """A user's queue as this transaction holds it locked."""

    user_id: UUID
    held_by: UUID | None
    hold_reason: HoldReason | None
    paused: bool
    processed_count: int  # the user's terminal requests so far: the next one gets processed_count + 1
    has_parked: bool  # whether any request of the user waits parked

    @property
    def blocked(self) -> bool:
        """Nothing of the user's may start: a request holds the rest back, or the queue is paused."""
        return self.held_by is not None or self.paused


class Clock:
    """PostgreSQL's clock, read once and carried on by this process's monotonic clock."""

    def __init__(self, database_now: datetime, monotonic_then: float | None = None) -> None:
        """`database_now` was read at `monotonic_then` (default: now; better, the middle of the round trip)."""
        self._base = database_now
        self._started = time.monotonic() if monotonic_then is None else monotonic_then

    def now(self) -> datetime:
        return self.at(time.monotonic())

    def at(self, monotonic: float) -> datetime:
        """The time of a `time.monotonic()` reading."""
        return self._base + timedelta(seconds=monotonic - self._started)


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
    )
