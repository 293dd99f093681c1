"""Records outcomes: one short transaction (a *tick*) for whatever the worker's users have to show.

Handlers never run here (they run in `stream_worker.runner`, outside any transaction). A tick takes the
lanes that have something new (records that arrived, outcomes that finished), locks their users' queue
rows and their requests' rows, and walks each lane in order, as the user's queue allows:

- a new request runs when nothing of the user's is held or parked, and is parked otherwise (it waits in
  PostgreSQL; its offset can be committed, so other users on the partition move on);
- to *run* a request is to record the outcome its handler came to. When it has none yet, the tick
  claims it (`processing`) and the walk of that lane stops there: after the commit the request and the
  user's next ones in the lane go to the runner as a *chain*, and the next tick records what they did;
- a transient failure makes the request `retrying`, holds the user, and publishes a wake-up on the
  retry topic for its due time;
- when the hold lifts (the retry succeeded, or was dead-lettered under the 'continue' policy) the user's
  parked requests run, in order, before anything newer of theirs;
- a dead letter under the 'halt' policy keeps the user held until an operator acts;
- a paused queue starts nothing (new requests park, a due retry waits); its resume wakes it up. A request
  whose handler already ran when the pause came is recorded.

A type's database step runs here, in a savepoint of the tick, with the handler's result: its writes
commit with the request's terminal state, once, however often the handler ran.

The decisions are made on our copies of the locked rows (`stream_worker.rows`) and written back together,
in a few set-based statements (`store.write`): a tick costs a handful of round trips, whatever its size.
Every state change goes into the request log (`request_events`), numbered per user at the end.

The caller commits offsets only after the tick committed and the outgoing records it returned are
delivered. Replaying a record is harmless: a terminal request is not run again, only announced again; a
stale wake-up finds nothing to do; a request claimed by a worker that died runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
import structlog

from request_types.registry import (
    DeadLetterPolicy,
    RecordContext,
    Registry,
    RequestType,
    dead_letter_policy,
)
from schemas import records as wire
from schemas.lifecycle import Status, transition
from schemas.records import Headers, RequestRecord, ResultEvent, RetryRecord
from store import outbox
from store.outbox import Outgoing
from store.request_log import Event
from stream_worker import store
from stream_worker.offsets import Position, TopicPartitionKey
from stream_worker.outcomes import DeadLetter, Outcome, RetryPolicy, Succeeded, decide, recordable
from stream_worker.rows import Clock, HoldReason, Queue, RequestRow, finished, retrying
from stream_worker.runner import Attempt, Finished

log = structlog.get_logger(__name__)

# Our own infrastructure failing: the batch is rolled back and run again, nothing is dead-lettered.
INFRASTRUCTURE_ERRORS = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.IdleInTransactionSessionTimeout,  # the batch outlived DB_IDLE_IN_TRANSACTION_TIMEOUT_S
)


@dataclass(frozen=True)
class Inbound:
    """A consumed record: its place, its bytes, and what it parsed to (or why it did not)."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: Headers
    record: RequestRecord | None
    wakeup: RetryRecord | None = None  # set for records of the retry topic
    problem: str | None = None


@dataclass(frozen=True)
class Topics:
    requests: str
    retry: str
    results: str
    dead_letters: str


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
class Processed:
    outgoing: list[Outgoing] = field(default_factory=list)  # in the order to deliver them
    outbox_ids: list[int] = field(default_factory=list)  # their rows, to delete once delivered
    deferred: list[tuple[Inbound, datetime]] = field(default_factory=list)  # wake-ups not due yet
    used: list[tuple[UUID, int]] = field(default_factory=list)  # outcomes recorded (request, attempt)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (request type, outcome) for metrics
    end_to_end: list[tuple[str, float]] = field(default_factory=list)  # (request type, seconds to terminal)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)  # (request type, cause) for metrics
    unreadable: int = 0


class Processor:
    def __init__(self, registry: Registry, policies: Policies, topics: Topics, actor: str) -> None:
        self._registry = registry
        self.policies = policies
        self.topics = topics
        self.actor = actor  # who made the transitions, in the request log: the worker's id

    def tick(
        self,
        conn: store.Conn,
        walks: list[Walk],
        outcomes: Mapping[tuple[UUID, int], Finished],
        epochs: dict[TopicPartitionKey, int],
        clock: Clock,
        unchecked: list[RequestRecord],
    ) -> Processed:
        """Walk these lanes with the outcomes that finished, in one transaction; what to publish and defer.

        `unchecked`: records whose rows are read for the first time (see `store.wait_for_acceptance`).
        """
        with conn.transaction():
            if epochs:
                store.check_epochs(conn, epochs)
            if unchecked:
                store.wait_for_acceptance(conn, unchecked)
            records = [item.record for walk in walks for item in walk.items if item.record]
            queues = store.lock_queues(conn, [r.user_id for r in records])
            earlier = outbox.pending(conn, list(queues))  # a dead worker's: they go out first
            rows = store.lock_requests(conn, [r.request_id for r in records])
            unit = _Transaction(self, conn, queues, rows, clock, outcomes)
            for walk in walks:
                unit.walk(walk)
            new = unit.processed.outgoing
            unit.processed.outgoing = [*earlier.records, *new]
            unit.write()  # the tick's rows: a few set-based statements in one round trip
            unit.processed.outbox_ids = [*earlier.ids, *outbox.add(conn, new)]
            store.record_events(conn, unit.events, self.actor)
        return unit.processed

    def type_label(self, name: str) -> str:
        """`name` when it is a registered type; a bounded label for anything a raw record may carry."""
        return name if self.request_type(name) is not None else "unregistered"

    def request_type(self, name: str) -> RequestType[Any] | None:
        return self._registry.find(name)

    def announcements(self, row: RequestRow) -> list[Outgoing]:
        """The result event of a terminal request, and its dead letter when it has one."""
        assert row.processed_seq is not None
        assert row.completed_at is not None
        key = str(row.user_id).encode()
        out = [
            Outgoing(
                self.topics.results,
                key,
                ResultEvent.encode_row(vars(row)),
                wire.standard_headers(wire.RESULT_CONTENT_TYPE, row.trace_id),
                row.user_id,
            )
        ]
        if row.status is Status.DEAD_LETTERED:
            error = row.error or {}
            origin = Position(self.topics.requests, row.kafka_partition or 0, row.sequence or 0)
            out.append(
                self.dead_letter(
                    row.user_id,
                    origin,
                    key,
                    wire.encode(row.as_record()),
                    wire.standard_headers(wire.REQUEST_CONTENT_TYPE, row.trace_id),
                    str(error.get("cause", "permanent")),
                    str(error.get("message", "")),
                    row.attempts,
                    row.first_failed_at,
                    row.last_failed_at,
                )
            )
        return out

    def wakeup(self, row: RequestRow) -> Outgoing:
        """A wake-up on the retry topic for `row`: its retry when due, or the drain of a parked request."""
        due = row.next_attempt_at or row.accepted_at
        record = RetryRecord.wakeup(row.as_record(), row.attempts, due, row.first_failed_at, row.error)
        return Outgoing(
            self.topics.retry,
            str(row.user_id).encode(),
            wire.encode(record),
            wire.standard_headers(wire.RETRY_CONTENT_TYPE, row.trace_id),
            row.user_id,
        )

    def dead_letter_of_unreadable(self, item: Inbound) -> Outgoing:
        log.warning(
            "unreadable record dead-lettered",
            topic=item.position.topic,
            partition=item.position.partition,
            offset=item.position.offset,
            problem=item.problem,
        )
        return self.dead_letter(
            None, item.position, item.key, item.value, item.headers, "unprocessable", item.problem or "", 0, None, None
        )

    def dead_letter(
        self,
        user_id: UUID | None,
        origin: Position,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        cause: str,
        error: str,
        attempts: int,
        first_failed_at: datetime | None,
        last_failed_at: datetime | None,
    ) -> Outgoing:
        def when(moment: datetime | None) -> bytes:
            return (moment.isoformat() if moment else "").encode()

        return Outgoing(
            self.topics.dead_letters,
            key,
            value,
            [
                *headers,
                (wire.DLQ_CAUSE, cause.encode()),
                (wire.DLQ_ERROR, error.encode()[:1000]),
                (wire.DLQ_ATTEMPTS, str(attempts).encode()),
                (wire.DLQ_FIRST_FAILED_AT, when(first_failed_at)),
                (wire.DLQ_LAST_FAILED_AT, when(last_failed_at)),
                (wire.DLQ_ORIGIN_TOPIC, origin.topic.encode()),
                (wire.DLQ_ORIGIN_PARTITION, str(origin.partition).encode()),
                (wire.DLQ_ORIGIN_OFFSET, str(origin.offset).encode()),
            ],
            user_id,
        )


class _Run(Exception):
    """Raised inside a walk: `rows[0]` must run and has no outcome yet; the lane waits here.
    `rows` may go on with the user's next requests that could follow it (parked ones, in order)."""

    def __init__(self, rows: list[RequestRow]) -> None:
        self.rows = rows


class _Transaction:
    """The decisions of one tick, on the queue and request rows it has locked.

    Decisions are made on our copies of the rows (locked: nothing else changes them now) and written back
    together (`write`): before anything reads them from PostgreSQL again (parked requests, a database
    step), and at the end. So a tick of requests that simply succeed costs a handful of statements,
    whatever its size.
    """

    def __init__(
        self,
        processor: Processor,
        conn: store.Conn,
        queues: dict[UUID, Queue],
        rows: dict[UUID, RequestRow],
        clock: Clock,
        outcomes: Mapping[tuple[UUID, int], Finished],
    ) -> None:
        self.p = processor
        self.conn = conn
        self.queues = queues
        self.rows = rows
        self.clock = clock
        self.outcomes = outcomes
        self.processed = Processed()
        self.events: list[Event] = []  # the request log of this transaction, in order
        self.changed: dict[UUID, RequestRow] = {}  # rows not written yet
        self.changed_queues: dict[UUID, Queue] = {}
        self.seen: set[Position] = set()  # the items of the lane being walked that earlier ticks walked
        self.where: tuple[RequestRow, Position]  # the request at hand, and where its record came from
        self.source = ""  # 'topic:partition' of the record being walked: what drives the runs it claims

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
            status = transition(row.status, Status.PROCESSING)
            self.save(replace(row, status=status, started_at=row.started_at or now, claimed_from=self.source))
            self.events.append(Event(row.user_id, row.request_id, Status.PROCESSING, row.attempts + 1, now))
        elif row.claimed_from != self.source:
            self.save(replace(row, claimed_from=self.source))  # taken over: its driver's partition is ours now

    def handle(self, item: Inbound) -> None:
        if item.record is None:
            self.emit(self.p.dead_letter_of_unreadable(item))
            self.processed.unreadable += 1
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
                self.processed.deferred.append((item, row.next_attempt_at))
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
        limit = self.p.policies.drain_limit
        self.write()  # the parked requests are read from PostgreSQL: it must know ours
        waiting = store.parked(self.conn, user_id, limit + 1)
        for n, row in enumerate(waiting[:limit]):
            if queue.blocked:
                return
            self.rows[row.request_id] = row
            if not self.has_outcome(row):
                if row.status is Status.PROCESSING and row.claimed_from not in (None, self.source):
                    return  # another partition's record drives this drain (its worker runs it, or its next owner)
                raise _Run(waiting[n:limit])
            self.where = (row, Position(self.p.topics.requests, row.kafka_partition or 0, row.sequence or 0))
            self.execute(row)
        if len(waiting) <= limit:
            queue.has_parked = False  # all ran (the last may hold the user, but is not parked)
        elif not queue.blocked:
            self.emit(self.p.wakeup(waiting[limit]))

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
        self.processed.used.append((row.request_id, attempt))
        self._execute(row, attempt, done)

    def _execute(self, row: RequestRow, attempt: int, done: Finished) -> None:
        request_type = self.p.request_type(row.type)
        user_id = row.user_id
        started_at = self.clock.at(done.started)
        if row.status is not Status.PROCESSING:  # else its claim logged the start
            self.events.append(Event(user_id, row.request_id, Status.PROCESSING, attempt, started_at))
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
            policy = dead_letter_policy(request_type, self.p.policies.dead_letter)
            self.note(
                logging.WARNING,
                "request dead-lettered",
                type=row.type,
                attempt=attempt,
                cause=outcome.cause,
                policy=policy,
                error=outcome.error,
            )
            self.processed.dead_letters.append((self.p.type_label(row.type), outcome.cause))
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
            self.emit(self.p.wakeup(row))
        self.save(row)
        self.count(row, row.status)
        failed = row.status is not Status.SUCCEEDED
        self.events.append(Event(user_id, row.request_id, row.status, attempt, at, row.error if failed else None))
        if row.status.terminal:
            self.processed.end_to_end.append((self.p.type_label(row.type), (at - row.accepted_at).total_seconds()))
            self.announce(row)

    def record_step(
        self, row: RequestRow, request_type: RequestType[Any], attempt: int, payload: Any, result: dict[str, Any]
    ) -> Outcome:
        """Run the type's database step in a savepoint of this tick: its writes commit with the outcome."""
        assert request_type.record is not None
        self.write()  # the step reads the state its request runs in
        context = RecordContext(row.request_id, row.user_id, attempt, self.conn)
        try:
            with self.conn.transaction():  # a savepoint: a failed step leaves no effect behind
                final = recordable(request_type.record(context, payload, result), self.p.policies.max_result_bytes)
        except INFRASTRUCTURE_ERRORS:
            raise  # our own connection failed: the tick runs again
        except Exception as exc:  # the step's failure, whatever it is, is an outcome
            policy = self.p.policies.retry.for_type(request_type.max_attempts)
            return decide(exc, attempt - row.attempts_before_redrive, policy)
        return Succeeded(final)

    def next_seq(self, user_id: UUID) -> int:
        """The `processed_seq` of the user's next terminal request."""
        queue = self.queues[user_id]
        queue.processed_count += 1
        self.changed_queues[user_id] = queue
        return queue.processed_count

    def count(self, row: RequestRow, outcome: str) -> None:
        self.processed.outcomes.append((self.p.type_label(row.type), outcome))

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
        """Store the rows changed since the last write."""
        store.write(self.conn, list(self.changed.values()), list(self.changed_queues.values()))
        self.changed.clear()
        self.changed_queues.clear()

    def announce(self, row: RequestRow) -> None:
        self.processed.outgoing.extend(self.p.announcements(row))

    def emit(self, out: Outgoing) -> None:
        self.processed.outgoing.append(out)


def _partition_of(item: Inbound) -> str:
    return f"{item.position.topic}:{item.position.partition}"


def _request_of(item: Inbound) -> UUID | None:
    return item.record.request_id if item.record else None


def read(
    position: Position,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    retry_topic: str,
    max_bytes: int,
) -> Inbound:
    """Parse a consumed record; an unreadable one comes back with `problem` set, never raised.

    A record larger than `max_bytes` (key, value and headers) is not parsed, and its dead letter copies
    none of them: it might not fit in a record of its own. Its origin headers say where to find it.
    A `content-type` header, when there is one, must name the schema of the topic.
    """
    headers = list(headers or [])
    size = len(key or b"") + len(value or b"") + sum(len(k) + len(v or b"") for k, v in headers)
    if size > max_bytes:
        problem = f"the record is {size} bytes, more than MAX_RECORD_BYTES ({max_bytes}); its content is not copied"
        return Inbound(position, None, None, [], None, problem=problem)
    expected = wire.RETRY_CONTENT_TYPE if position.topic == retry_topic else wire.REQUEST_CONTENT_TYPE
    declared = wire.header(headers, wire.CONTENT_TYPE_HEADER)
    if declared is not None and declared != expected:
        return Inbound(position, key, value, headers, None, problem=f"content-type {declared!r}, not {expected!r}")
    wakeup: RetryRecord | None = None
    try:
        if position.topic == retry_topic:
            wakeup = wire.decode(RetryRecord, value)
            record = wakeup.request
        else:
            record = wire.decode(RequestRecord, value)
    except wire.UnprocessableRecord as exc:
        return Inbound(position, key, value, headers, None, problem=str(exc))
    if key is not None and key != str(record.user_id).encode():
        return Inbound(position, key, value, headers, None, problem="the key is not the record's user_id")
    return Inbound(position, key, value, headers, record, wakeup)
