"""What a tick decides for each user's lane (pure: the rows in, the effects out).

Given the queue and request rows a tick holds locked, the records of each lane in order and the outcomes
the runner came to, `Decisions.walk` settles each lane as far as it can and says what changes:

- a new request runs when nothing of the user's is held or parked, and is parked otherwise (it waits in
  PostgreSQL; its offset can be committed, so other users on the partition move on);
- to *run* a request is to record the outcome its handler came to. When it has none yet, the request is
  claimed (`processing`) and the walk of that lane stops there: after the commit the request and the
  user's next ones go to the runner as a *chain*, and a later tick records what they did;
- a transient failure makes the request `retrying`, holds the user, and publishes a wake-up on the
  retry topic for its due time;
- when the hold lifts (the retry succeeded, or was dead-lettered under the 'continue' policy) the user's
  parked requests run, in order, before anything newer of theirs (a *drain*);
- a dead letter under the 'halt' policy keeps the user held until an operator acts;
- a paused queue starts nothing (new requests park, a due retry waits); its resume wakes it up. A request
  whose handler already ran when the pause came is recorded.

Every row change is made by `schemas.lifecycle`. The few things that need PostgreSQL in the middle of a
walk (the user's parked requests, a type's database step) come through the `Database` port, which the
tick implements on its transaction (`stream_worker.processor`) and the unit tests on a dict.
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
from schemas.lifecycle import Event, HoldReason, Queue, RequestRow, Status, claimed, finished, retrying, transition
from schemas.records import Outgoing
from stream_worker.clock import Clock
from stream_worker.inbound import Inbound
from stream_worker.offsets import Position
from stream_worker.outcomes import DeadLetter, Outcome, RetryPolicy, Succeeded
from stream_worker.outgoing import Topics
from stream_worker.runner import Attempt, Finished

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


@dataclass
class Walk:
    """One user's lane as a tick sees it, and what the tick made of it."""

    items: list[Inbound]  # the head of the lane, in order: walked until one must wait
    running: bool  # a chain of this lane is with the runner: the walk claims nothing new
    seen: set[Position] = field(default_factory=set)  # items that earlier ticks walked already
    settled: int = 0  # items of the head that are done with (their offsets may be committed)
    chain: list[Attempt] = field(default_factory=list)  # claimed: to run, in order, after the commit


@dataclass
class Effects:
    """What the decisions of a tick come to, besides the rows they changed."""

    outgoing: list[Outgoing] = field(default_factory=list)  # in the order to deliver them
    events: list[Event] = field(default_factory=list)  # the request log of this transaction, in order
    deferred: list[tuple[Inbound, datetime]] = field(default_factory=list)  # wake-ups not due yet
    used: list[tuple[UUID, int]] = field(default_factory=list)  # outcomes recorded (request, attempt)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (request type, outcome) for metrics
    end_to_end: list[tuple[str, float]] = field(default_factory=list)  # (request type, seconds to terminal)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)  # (request type, cause) for metrics
    unreadable: int = 0


class _Run(Exception):
    """Raised inside a walk: `rows[0]` must run and has no outcome yet; the lane waits here.
    `rows` may go on with the user's next requests that could follow it (parked ones, in order)."""

    def __init__(self, rows: list[RequestRow]) -> None:
        self.rows = rows


class Decisions:
    """The decisions of one tick, on the queue and request rows it has locked.

    Decisions are made on our copies of the rows (locked: nothing else changes them now) and handed to
    the database together: before anything is read from it again (parked requests, a database step),
    and at the end (`changes`). So a tick of requests that simply succeed costs a handful of statements,
    whatever its size.
    """

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
        self.seen: set[Position] = set()  # the items of the lane being walked that earlier ticks walked
        self.where: tuple[RequestRow, Position]  # the request at hand, and where its record came from
        self.source = ""  # 'topic:partition' of the record being walked: what drives the runs it claims

    def changes(self) -> tuple[list[RequestRow], list[Queue]]:
        """The rows and queues changed since the database last got them; from now on it has them."""
        out = list(self.changed.values()), list(self.changed_queues.values())
        self.changed.clear()
        self.changed_queues.clear()
        return out

    def type_label(self, name: str) -> str:
        """`name` when it is a registered type; a bounded label for anything a raw record may carry."""
        return name if self.registry.find(name) is not None else "unregistered"

    def walk(self, walk: Walk) -> None:
        """Settle the lane's items in order until one must wait for a handler; claim that one (and the
        user's requests that may follow it) unless a chain of the lane is still running."""
        self.seen = walk.seen
        for n, item in enumerate(walk.items):
            self.source = _partition_of(item)
            try:
                self.handle(item)
            except _Run as run:
                # the request that must run next is marked as running, driven by this record's partition;
                # when the lane's chain is still out, that is the request it runs now (or next)
                self.mark_running(run.rows[0])
                if not walk.running:
                    rows = run.rows
                    if len(rows) == 1 and item.wakeup is None and rows[0].request_id == _request_of(item):
                        rows = [*rows, *self.followers(rows[0].user_id, walk.items[n + 1 :])]
                    walk.chain = [
                        Attempt(r.request_id, r.user_id, r.type, r.payload, r.attempts + 1, r.attempts_before_redrive)
                        for r in rows
                    ]
                break
            walk.settled += 1

    def followers(self, user_id: UUID, items: list[Inbound]) -> list[RequestRow]:
        """The new requests right behind a claimed one that may run after it without another look at the
        database: queued, not parked, while the user's queue is neither blocked nor has parked requests."""
        queue = self.queues[user_id]
        out: list[RequestRow] = []
        for item in items:
            row = self.rows.get(item.record.request_id) if item.record and item.wakeup is None else None
            if queue.blocked or queue.has_parked or row is None or row.user_id != user_id:
                break
            if row.status is not Status.QUEUED or row.parked:
                break
            out.append(row)
        return out

    def mark_running(self, row: RequestRow) -> None:
        """`row` runs now (`processing`), driven by the record being walked: another worker's drain of the
        user leaves it alone (see `drain`), a purge does not cancel it."""
        row = self.rows.get(row.request_id, row)
        if row.status is not Status.PROCESSING:
            now = self.clock.now()
            self.save(claimed(row, now, self.source))
            self.effects.events.append(Event(row.user_id, row.request_id, Status.PROCESSING, row.attempts + 1, now))
        elif row.claimed_from != self.source:
            self.save(replace(row, claimed_from=self.source))  # taken over: its driver's partition is ours now

    def handle(self, item: Inbound) -> None:
        if item.record is None:
            self.emit(self.topics.unreadable(item))
            self.effects.unreadable += 1
            return
        row = self.rows.get(item.record.request_id)
        if row is None or row.user_id != item.record.user_id:
            if item.wakeup is None:
                log.warning(
                    "record was never accepted; not run",
                    request_id=str(item.record.request_id),
                    user_id=str(item.record.user_id),
                    partition=item.position.partition,
                    offset=item.position.offset,
                )
            return
        self.where = (row, item.position)
        if item.wakeup is None:
            self.arrive(row, item)
        else:
            self.wake(row, item)

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

    def arrive(self, row: RequestRow, item: Inbound) -> None:
        """A record of the requests topic: run it, park it, or (read again) finish what a crash left."""
        queue = self.queues[row.user_id]
        if row.status.terminal or row.in_retry:
            # read again after a crash: its outcome and what it published are in PostgreSQL (outbox); or
            # walked again while the drain it started goes on: the drain carries on from where it is
            self.skipped(row, item)
            self.drain(row.user_id)
        elif row.parked:
            self.drain(row.user_id)  # read again after a crash: it runs in its place among the parked
        elif row.status is Status.PROCESSING or self.has_outcome(row):
            self.run(row)  # it started (the handler ran, or a crash left its claim): it is not parked now
        elif queue.blocked or queue.has_parked:
            self.save(replace(row, parked=True))
            queue.has_parked = True
            self.count(row, "parked")
            self.note(logging.DEBUG, "parked behind the user's earlier requests", held_by=str(queue.held_by))
        else:
            self.run(row)

    def wake(self, row: RequestRow, item: Inbound) -> None:
        """A wake-up from the retry topic: run the retry when due, or resume the user's parked requests."""
        if row.in_retry:
            assert row.next_attempt_at is not None
            if row.status is Status.PROCESSING or self.has_outcome(row):
                self.run(row)  # it ran, or runs: record what it came to (or run it again after a crash)
            elif row.next_attempt_at > self.clock.now():
                self.effects.deferred.append((item, row.next_attempt_at))
            elif self.queues[row.user_id].paused:
                self.note(logging.INFO, "queue paused; the retry waits for its resume")
            else:
                self.run(row)
        else:
            if row.status.terminal:
                self.skipped(row, item)
            self.drain(row.user_id)  # a redrive, a discard or a long drain left parked requests behind

    def skipped(self, row: RequestRow, item: Inbound) -> None:
        if item.position not in self.seen:  # else a lane walked again, not a record read again
            self.note(logging.INFO, "already done; skipped", status=row.status)

    def run(self, row: RequestRow) -> None:
        """One attempt of `row`; then the user's parked requests, if that freed them."""
        self.execute(row)
        self.drain(row.user_id)

    def drain(self, user_id: UUID) -> None:
        """Run the user's parked requests in order, until one holds the user again, one must wait for its
        handler, or the limit is hit; the rest get a wake-up (a later tick runs them, before anything newer)."""
        queue = self.queues[user_id]
        if queue.blocked or not queue.has_parked:
            return
        limit = self.policies.drain_limit
        self.write()  # the parked requests are read from PostgreSQL: it must know ours
        waiting = self.db.parked(user_id, limit + 1)
        for n, row in enumerate(waiting[:limit]):
            if queue.blocked:
                return
            self.rows[row.request_id] = row
            if not self.has_outcome(row):
                if row.status is Status.PROCESSING and row.claimed_from not in (None, self.source):
                    return  # another partition's record drives this drain (its worker runs it, or its next owner)
                raise _Run(waiting[n:limit])
            self.where = (row, Position(self.topics.requests, row.kafka_partition or 0, row.sequence or 0))
            self.execute(row)
        if len(waiting) <= limit:
            queue.has_parked = False  # all ran (the last may hold the user, but is not parked)
        elif not queue.blocked:
            self.emit(self.topics.wakeup(waiting[limit]))

    def has_outcome(self, row: RequestRow) -> bool:
        return (row.request_id, row.attempts + 1) in self.outcomes

    def execute(self, row: RequestRow) -> None:
        """Record the outcome of the attempt `row` is at; `_Run` when its handler has not come to one."""
        attempt = row.attempts + 1
        done = self.outcomes.get((row.request_id, attempt))
        if done is None:
            raise _Run([row])
        if row.status is not Status.PROCESSING:
            transition(row.status, Status.PROCESSING)  # refuses to run a request that is done
        self.effects.used.append((row.request_id, attempt))
        self._execute(row, attempt, done)

    def _execute(self, row: RequestRow, attempt: int, done: Finished) -> None:
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


def _partition_of(item: Inbound) -> str:
    return f"{item.position.topic}:{item.position.partition}"


def _request_of(item: Inbound) -> UUID | None:
    return item.record.request_id if item.record else None
