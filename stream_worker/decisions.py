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
  whose handler already ran when the pause came is recorded;
- a request found `processing` runs again as a *suspect*, alone (`stream_worker.suspects`): its worker
  died while it ran; one whose worker died `max_record_crashes` times while it ran (`claims`, the runs
  alone, plus the first) is dead-lettered (`crashed_worker`) instead of being claimed again. A run its
  worker gave up (a rebalance, a stop past its grace: `store.requests.release`) is no crash: it runs
  again as usual.

Every row change is made by `schemas.lifecycle`. The few things that need PostgreSQL in the middle of a
walk (the user's parked requests, a type's database step) come through the `Database` port, which the
tick implements on its transaction (`stream_worker.processor`) and the unit tests on a dict. How an
outcome changes the rows is `stream_worker.recorder`'s part.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from uuid import UUID

import structlog

from schemas.lifecycle import Event, RequestRow, Status, claimed, transition
from stream_worker.inbound import Inbound
from stream_worker.offsets import Position, source
from stream_worker.outcomes import DeadLetter
from stream_worker.recorder import Recorder
from stream_worker.runner import Attempt, Finished

log = structlog.get_logger(__name__)


@dataclass
class Walk:
    """One user's lane as a tick sees it, and what the tick made of it."""

    items: list[Inbound]  # the head of the lane, in order: walked until one must wait
    running: bool  # a chain of this lane is with the runner: the walk claims nothing new
    seen: set[Position] = field(default_factory=set)  # items that earlier ticks walked already
    settled: int = 0  # items of the head that are done with (their offsets may be committed)
    chain: list[Attempt] = field(default_factory=list)  # claimed: to run, in order, after the commit
    suspect: bool = False  # the chain is a request that ran before and came to nothing: it runs alone


class _Run(Exception):
    """Raised inside a walk: `rows[0]` must run and has no outcome yet; the lane waits here.
    `rows` may go on with the user's next requests that could follow it (parked ones, in order)."""

    def __init__(self, rows: list[RequestRow]) -> None:
        self.rows = rows


class Decisions(Recorder):
    """The decisions of one tick: each lane walked in order, on the queue and request rows it locked."""

    seen: set[Position]  # the items of the lane being walked that earlier ticks walked
    running: bool  # a chain of the lane being walked is with the runner
    source: str  # 'topic:partition' of the record being walked: what drives the runs it claims

    def walk(self, walk: Walk) -> None:
        """Settle the lane's items in order until one must wait for a handler; claim that one (and the
        user's requests that may follow it) unless a chain of the lane is still running."""
        self.seen = walk.seen
        self.running = walk.running
        for n, item in enumerate(walk.items):
            self.source = source(item.position.key)
            try:
                self.handle(item)
            except _Run as run:
                # the request that must run next is marked as running, driven by this record's partition;
                # when the lane's chain is still out, that is the request it runs now (or next)
                head = self.rows.get(run.rows[0].request_id, run.rows[0])
                self.mark_running(run.rows[0])
                if not walk.running:
                    rows = run.rows
                    walk.suspect = _crashed(head)
                    if walk.suspect:
                        rows = rows[:1]
                    elif len(rows) == 1 and item.wakeup is None and rows[0].request_id == _request_of(item):
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
            elif row.next_attempt_at > self.clock.now() + timedelta(seconds=self.policies.wakeup_horizon_s):
                self.effects.dormant.append(row)  # kept in PostgreSQL: a sweep wakes it within the horizon
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
        return self.outcome_of(row) is not None

    def outcome_of(self, row: RequestRow) -> Finished | None:
        """What the attempt `row` is at came to: its handler's outcome, or (its worker died the first time
        it ran and `claims` times more while it ran alone, `max_record_crashes` in all, and it does not run
        here now) a dead letter: it is not run again."""
        attempt = row.attempts + 1
        done = self.outcomes.get((row.request_id, attempt))
        crashes = self.policies.max_record_crashes
        if done is not None or not _crashed(row) or row.claims + 1 < crashes or self.running:
            return done
        message = f"its worker died each of the {row.claims + 1} times it ran (MAX_RECORD_CRASHES is {crashes})"
        error = {"kind": "crashed_worker", "message": message, "crashes": row.claims + 1}
        now = time.monotonic()
        return Finished(-1, row.request_id, attempt, DeadLetter("crashed_worker", error), now, now, None, True)

    def execute(self, row: RequestRow) -> None:
        """Record the outcome of the attempt `row` is at; `_Run` when its handler has not come to one."""
        attempt = row.attempts + 1
        done = self.outcome_of(row)
        if done is None:
            raise _Run([row])
        if row.status is not Status.PROCESSING:
            transition(row.status, Status.PROCESSING)  # refuses to run a request that is done
        self.effects.used.append((row.request_id, attempt))
        self.record(row, attempt, done)


def _crashed(row: RequestRow) -> bool:
    """Whether `row` ran before and came to nothing because its worker died: `processing`, still driven by
    a partition. A run its worker gave up (a rebalance, a stop past its grace) is driven by none."""
    return row.status is Status.PROCESSING and row.claimed_from is not None


def _request_of(item: Inbound) -> UUID | None:
    return item.record.request_id if item.record else None
