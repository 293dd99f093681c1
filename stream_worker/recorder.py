"""Recording an attempt's outcome on the rows a tick holds locked (pure: the rows in, the effects out).

A `Recorder` keeps the tick's copies of its users' queue rows and request rows (locked: nothing else
changes them now), makes each change with `schemas.lifecycle`, and hands the changed rows to the
database together: before anything is read from it again (parked requests, a database step), and at the
end (`changes`). So a tick of requests that simply succeed costs a handful of statements, whatever its
size. `stream_worker.decisions` walks the lanes on top of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import structlog

from request_types.registry import DeadLetterPolicy, Registry, RequestType, dead_letter_policy
from schemas.lifecycle import Event, HoldReason, Queue, RequestRow, Status, finished, retrying
from schemas.records import Outgoing
from stream_worker.clock import Clock
from stream_worker.inbound import Inbound
from stream_worker.offsets import Position
from stream_worker.outcomes import DeadLetter, Outcome, RetryPolicy, Succeeded
from stream_worker.outgoing import Topics
from stream_worker.runner import Finished

log = structlog.get_logger(__name__)


class Database(Protocol):
    """What a walk needs from PostgreSQL while it decides, inside the tick's transaction."""

    def write(self, rows: list[RequestRow], queues: list[Queue]) -> None:
        """Store these changed rows: what is read next must see them."""

    def parked(self, user_id: UUID, limit: int) -> list[RequestRow]:
        """The user's earliest parked requests, in order, locked."""

    def record(
        self, row: RequestRow, request_type: RequestType[Any], attempt: int, payload: Any, result: dict[str, Any]
    ) -> Outcome:
        """Run the type's database step with the handler's result; what the attempt came to."""


@dataclass(frozen=True)
class Policies:
    retry: RetryPolicy
    dead_letter: DeadLetterPolicy
    drain_limit: int  # parked requests run in one transaction at most; the rest get a wake-up
    max_result_bytes: int  # a larger result is a permanent failure (`outcomes.recordable`)
    wakeup_horizon_s: float  # a retry due later than this waits in PostgreSQL, not in memory (`store.dormant`)
    max_record_crashes: int  # a request claimed this often without an outcome is dead-lettered (`crashed_worker`)


@dataclass
class Effects:
    """What the decisions of a tick come to, besides the rows they changed."""

    outgoing: list[Outgoing] = field(default_factory=list)  # in the order to deliver them
    events: list[Event] = field(default_factory=list)  # the request log of this transaction, in order
    deferred: list[tuple[Inbound, datetime]] = field(default_factory=list)  # wake-ups not due yet
    dormant: list[RequestRow] = field(default_factory=list)  # retries due beyond the horizon: kept in PostgreSQL
    used: list[tuple[UUID, int]] = field(default_factory=list)  # outcomes recorded (request, attempt)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (request type, outcome) for metrics
    end_to_end: list[tuple[str, float]] = field(default_factory=list)  # (request type, seconds to terminal)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)  # (request type, cause) for metrics
    unreadable: int = 0


class Recorder:
    """The rows of one tick, and how an outcome changes them."""

    def __init__(
        self,
        registry: Registry,
        policies: Policies,
        topics: Topics,
        db: Database,
        queues: dict[UUID, Queue],
        rows: dict[UUID, RequestRow],
        clock: Clock,
        outcomes: Mapping[tuple[UUID, int], Finished],
    ) -> None:
        self.registry = registry
        self.policies = policies
        self.topics = topics
        self.db = db
        self.queues = queues
        self.rows = rows
        self.clock = clock
        self.outcomes = outcomes
        self.effects = Effects()
        self.changed: dict[UUID, RequestRow] = {}  # rows not written yet
        self.changed_queues: dict[UUID, Queue] = {}
        self.where: tuple[RequestRow, Position]  # the request at hand, and where its record came from

    def changes(self) -> tuple[list[RequestRow], list[Queue]]:
        """The rows and queues changed since the database last got them; from now on it has them."""
        out = list(self.changed.values()), list(self.changed_queues.values())
        self.changed.clear()
        self.changed_queues.clear()
        return out

    def type_label(self, name: str) -> str:
        """`name` when it is a registered type; a bounded label for anything a raw record may carry."""
        return name if self.registry.find(name) is not None else "unregistered"

    def note(self, level: int, event: str, **fields: Any) -> None:
        """Log `event` about the request at hand, with where its record came from (only when the level is
        on: a request that simply succeeds costs no log line's work)."""
        if not log.is_enabled_for(level):
            return
        row, position = self.where
        log.log(
            level,
            event,
            request_id=str(row.request_id),
            user_id=str(row.user_id),
            trace_id=row.trace_id,
            topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            **fields,
        )

    def record(self, row: RequestRow, attempt: int, done: Finished) -> None:
        """Record what the attempt `attempt` of `row` came to: its new row, the user's hold, what to publish."""
        request_type = self.registry.find(row.type)
        user_id = row.user_id
        started_at = self.clock.at(done.started)
        if row.status is not Status.PROCESSING:  # else its claim logged the start
            self.effects.events.append(Event(user_id, row.request_id, Status.PROCESSING, attempt, started_at))
        if row.started_at is not None and row.started_at > started_at:
            row = replace(row, started_at=started_at)  # marked running by a tick after it had started
        outcome = done.outcome
        assert outcome is not None  # a chain's end without an outcome is never kept (`Lanes.finished`)
        at = self.clock.at(done.ended)
        if isinstance(outcome, Succeeded) and request_type is not None and request_type.record is not None:
            outcome = self.record_step(row, request_type, attempt, done.payload, outcome.result)
            at = self.clock.now()
        if isinstance(outcome, Succeeded):
            row = finished(row, Status.SUCCEEDED, attempt, started_at, at, self.next_seq(user_id), outcome.result)
            self.note(logging.DEBUG, "request succeeded", type=row.type, attempt=attempt)
            self.release(user_id, row.request_id)
        elif isinstance(outcome, DeadLetter):
            error = {**outcome.error, "cause": outcome.cause}
            row = finished(row, Status.DEAD_LETTERED, attempt, started_at, at, self.next_seq(user_id), error=error)
            policy = dead_letter_policy(request_type, self.policies.dead_letter)
            self.note(
                logging.WARNING,
                "request dead-lettered",
                type=row.type,
                attempt=attempt,
                cause=outcome.cause,
                policy=policy,
                error=outcome.error,
            )
            self.effects.dead_letters.append((self.type_label(row.type), outcome.cause))
            if policy == "halt":
                self.hold(user_id, row.request_id, "halted")
            else:
                self.release(user_id, row.request_id)
        else:
            row = retrying(row, attempt, started_at, at, outcome.delay, outcome.error)
            self.note(
                logging.INFO,
                "attempt failed; retry scheduled",
                type=row.type,
                attempt=attempt,
                delay=round(outcome.delay, 3),
                error=outcome.error,
            )
            self.hold(user_id, row.request_id, "retrying")
            self.emit(self.topics.wakeup(row))
        self.save(row)
        self.count(row, row.status)
        logged = row.error if row.status is not Status.SUCCEEDED else None
        self.effects.events.append(Event(user_id, row.request_id, row.status, attempt, at, logged))
        if row.status.terminal:
            self.effects.end_to_end.append((self.type_label(row.type), (at - row.accepted_at).total_seconds()))
            self.announce(row)

    def record_step(
        self, row: RequestRow, request_type: RequestType[Any], attempt: int, payload: Any, result: dict[str, Any]
    ) -> Outcome:
        """Run the type's database step, in the tick's transaction: its writes commit with the outcome."""
        self.write()  # the step reads the state its request runs in
        return self.db.record(row, request_type, attempt, payload, result)

    def next_seq(self, user_id: UUID) -> int:
        """The `processed_seq` of the user's next terminal request."""
        queue = self.queues[user_id]
        queue.processed_count += 1
        self.changed_queues[user_id] = queue
        return queue.processed_count

    def count(self, row: RequestRow, outcome: str) -> None:
        self.effects.outcomes.append((self.type_label(row.type), outcome))

    def hold(self, user_id: UUID, request_id: UUID, reason: HoldReason) -> None:
        queue = self.queues[user_id]
        queue.held_by, queue.hold_reason = request_id, reason
        self.changed_queues[user_id] = queue

    def release(self, user_id: UUID, request_id: UUID) -> None:
        queue = self.queues[user_id]
        if queue.held_by == request_id:  # else it is not what holds the user
            queue.held_by, queue.hold_reason = None, None
            self.changed_queues[user_id] = queue

    def save(self, row: RequestRow) -> None:
        self.rows[row.request_id] = row
        self.changed[row.request_id] = row

    def write(self) -> None:
        """Hand the database the rows changed since it last got them."""
        self.db.write(*self.changes())

    def announce(self, row: RequestRow) -> None:
        self.effects.outgoing.extend(self.topics.announcements(row))

    def emit(self, out: Outgoing) -> None:
        self.effects.outgoing.append(out)
