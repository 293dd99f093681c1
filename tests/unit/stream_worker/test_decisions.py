"""`stream_worker.decisions` on its own: the rows of one user in, the effects out (no PostgreSQL).

A `Table` stands in for the tick's transaction: it keeps the rows the decisions hand it and answers
their reads (the user's parked requests) from them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from request_types.registry import Registry, RequestType
from schemas import records as wire
from schemas.lifecycle import Queue, RequestRow, Status, redriven
from schemas.records import RequestRecord, RetryRecord
from stream_worker.clock import Clock
from stream_worker.decisions import Decisions, Walk
from stream_worker.inbound import Inbound
from stream_worker.offsets import Position
from stream_worker.outcomes import DeadLetter, Outcome, Retry, RetryPolicy, Succeeded
from stream_worker.outgoing import Topics
from stream_worker.recorder import Policies
from stream_worker.runner import Finished

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOPICS = Topics("userq.requests", "userq.requests.retry", "userq.results", "userq.requests.dlq")
DRIVER = "userq.requests:0"  # the partition whose record drives a run (claimed_from)
USER = uuid.uuid4()
HORIZON_S = 300.0  # WAKEUP_HORIZON_S


class Table:
    """The `Database` of the decisions, on a dict: what a real transaction would hold and answer."""

    def __init__(self, rows: list[RequestRow]) -> None:
        self.rows = {row.request_id: row for row in rows}

    def write(self, rows: list[RequestRow], queues: list[Queue]) -> None:
        self.rows.update({row.request_id: row for row in rows})

    def parked(self, user_id: UUID, limit: int) -> list[RequestRow]:
        waiting = [r for r in self.rows.values() if r.user_id == user_id and r.parked]
        return sorted(waiting, key=lambda r: r.sequence or 0)[:limit]

    def record(
        self, row: RequestRow, request_type: RequestType[Any], attempt: int, payload: Any, result: dict[str, Any]
    ) -> Outcome:
        raise AssertionError("no type of these tests has a database step")


def _row(sequence: int, **changes: Any) -> RequestRow:
    row = RequestRow(
        request_id=uuid.uuid4(),
        user_id=USER,
        type="demo.echo",
        payload={},
        status=Status.QUEUED,
        attempts=0,
        result=None,
        error=None,
        accepted_at=T0,
        started_at=None,
        completed_at=None,
        sequence=sequence,
        kafka_partition=0,
        processed_seq=None,
        parked=False,
        next_attempt_at=None,
        first_failed_at=None,
        last_failed_at=None,
        attempts_before_redrive=0,
        trace_id="t",
    )
    return replace(row, **changes)


def _queue(**changes: Any) -> Queue:
    return replace(Queue(USER, None, None, None, 0, False), **changes)


def _arrival(row: RequestRow) -> Inbound:
    record = wire.request_of(row)
    return Inbound(Position(TOPICS.requests, 0, row.sequence or 0), None, None, [], record)


def _wakeup(row: RequestRow, offset: int = 0) -> Inbound:
    record = RetryRecord.wakeup(wire.request_of(row), row.attempts, row.next_attempt_at or T0, None, None)
    return Inbound(Position(TOPICS.retry, 0, offset), None, None, [], record.request, wakeup=record)


def _done(row: RequestRow, outcome: Outcome) -> Finished:
    now = time.monotonic()
    return Finished(0, row.request_id, row.attempts + 1, outcome, now, now, None, True)


class Tick:
    """One tick's decisions over `rows` and `queue`, with the outcomes the runner came to."""

    def __init__(self, rows: list[RequestRow], queue: Queue, dead_letter: str = "continue") -> None:
        registry = Registry()

        class Anything(BaseModel):
            pass

        registry.handler("demo.echo", Anything)(lambda ctx, payload: {})
        policies = Policies(RetryPolicy(3, 1.0, 60.0), dead_letter, 100, 1 << 20, HORIZON_S, 3)  # type: ignore[arg-type]
        self.table = Table(rows)
        self.queue = queue
        self.outcomes: dict[tuple[UUID, int], Finished] = {}
        self.decisions = Decisions(
            registry, policies, TOPICS, self.table, {USER: queue}, dict(self.table.rows), Clock(T0), self.outcomes
        )

    def finish(self, row: RequestRow, outcome: Outcome) -> None:
        self.outcomes[(row.request_id, row.attempts + 1)] = _done(row, outcome)

    def walk(self, *items: Inbound, running: bool = False) -> Walk:
        walk = Walk(list(items), running)
        self.decisions.walk(walk)
        self.table.write(*self.decisions.changes())
        return walk

    def row(self, row: RequestRow) -> RequestRow:
        return self.table.rows[row.request_id]

    def statuses(self) -> Mapping[int, str]:
        return {r.sequence or 0: str(r.status) for r in self.table.rows.values()}


def test_a_new_request_is_claimed_and_runs_with_the_users_next_ones_as_one_chain() -> None:
    first, second = _row(1), _row(2)
    tick = Tick([first, second], _queue())
    walk = tick.walk(_arrival(first), _arrival(second))
    assert [a.request_id for a in walk.chain] == [first.request_id, second.request_id]
    assert tick.row(first).status is Status.PROCESSING
    assert tick.row(first).claimed_from == f"{TOPICS.requests}:0"
    assert walk.settled == 0, "the claimed request's offset waits for its outcome"
    assert [e.status for e in tick.decisions.effects.events] == [Status.PROCESSING]


def test_a_success_is_recorded_announced_and_counted_in_the_users_order() -> None:
    row = _row(1, status=Status.PROCESSING, started_at=T0)
    tick = Tick([row], _queue())
    tick.finish(row, Succeeded({"ok": True}))
    walk = tick.walk(_arrival(row))
    done = tick.row(row)
    assert (done.status, done.result, done.processed_seq) == (Status.SUCCEEDED, {"ok": True}, 1)
    assert walk.settled == 1
    assert [o.topic for o in tick.decisions.effects.outgoing] == [TOPICS.results]


def test_a_request_arriving_while_the_user_is_held_is_parked() -> None:
    retrying = _row(1, status=Status.RETRYING, attempts=1, next_attempt_at=T0 + timedelta(hours=1))
    new = _row(2)
    tick = Tick([retrying, new], _queue(held_by=retrying.request_id, hold_reason="retrying"))
    walk = tick.walk(_arrival(new))
    assert tick.row(new).parked and tick.row(new).status is Status.QUEUED
    assert walk.settled == 1, "a parked request's offset may be committed: other users move on"
    assert walk.chain == []


def test_a_transient_failure_holds_the_user_and_publishes_its_wake_up() -> None:
    row = _row(1, status=Status.PROCESSING, started_at=T0)
    tick = Tick([row], _queue())
    tick.finish(row, Retry(5.0, {"message": "busy"}))
    tick.walk(_arrival(row))
    assert tick.row(row).status is Status.RETRYING
    assert (tick.queue.held_by, tick.queue.hold_reason) == (row.request_id, "retrying")
    [wakeup] = tick.decisions.effects.outgoing
    assert wakeup.topic == TOPICS.retry


def test_a_dead_letter_under_halt_keeps_the_user_held() -> None:
    row = _row(1, status=Status.PROCESSING, started_at=T0)
    tick = Tick([row], _queue(), dead_letter="halt")
    tick.finish(row, DeadLetter("permanent", {"message": "no"}))
    tick.walk(_arrival(row))
    assert tick.row(row).status is Status.DEAD_LETTERED
    assert (tick.queue.held_by, tick.queue.hold_reason) == (row.request_id, "halted")
    assert [o.topic for o in tick.decisions.effects.outgoing] == [TOPICS.results, TOPICS.dead_letters]


def test_a_dead_letter_under_continue_lets_the_parked_requests_run_in_order() -> None:
    held = _row(1, status=Status.RETRYING, attempts=1, next_attempt_at=T0 - timedelta(seconds=1))
    parked = [_row(2, parked=True), _row(3, parked=True)]
    tick = Tick([held, *parked], _queue(held_by=held.request_id, hold_reason="retrying", has_parked=True))
    tick.finish(held, DeadLetter("max_attempts", {"message": "gave up"}))
    walk = tick.walk(_wakeup(held))
    assert tick.row(held).status is Status.DEAD_LETTERED
    assert tick.queue.held_by is None
    assert [a.request_id for a in walk.chain] == [r.request_id for r in parked], "the drain runs them in order"
    assert tick.row(parked[0]).status is Status.PROCESSING


def test_a_due_retry_of_a_paused_queue_waits_and_a_new_request_parks() -> None:
    held = _row(1, status=Status.RETRYING, attempts=1, next_attempt_at=T0 - timedelta(seconds=1))
    new = _row(2)
    tick = Tick([held, new], _queue(held_by=held.request_id, hold_reason="retrying", paused_by="user"))
    walk = tick.walk(_wakeup(held), _arrival(new))
    assert tick.row(held).status is Status.RETRYING, "nothing starts while the queue is paused"
    assert tick.row(new).parked
    assert walk.chain == []


def test_a_retry_not_yet_due_is_deferred_to_its_time() -> None:
    due = T0 + timedelta(seconds=HORIZON_S)
    held = _row(1, status=Status.RETRYING, attempts=1, next_attempt_at=due)
    tick = Tick([held], _queue(held_by=held.request_id, hold_reason="retrying"))
    item = _wakeup(held)
    walk = tick.walk(item)
    assert tick.decisions.effects.deferred == [(item, due)]
    assert tick.decisions.effects.dormant == []
    assert walk.settled == 1


def test_a_retry_due_beyond_the_horizon_is_kept_in_postgresql_not_in_memory() -> None:
    held = _row(1, status=Status.RETRYING, attempts=1, next_attempt_at=T0 + timedelta(seconds=HORIZON_S + 1))
    tick = Tick([held], _queue(held_by=held.request_id, hold_reason="retrying"))
    walk = tick.walk(_wakeup(held))
    assert tick.decisions.effects.deferred == [], "held in memory, it would keep the partition's commit point back"
    assert tick.decisions.effects.dormant == [held]
    assert walk.settled == 1, "its offset may be committed"
    assert tick.row(held).status is Status.RETRYING
    assert tick.queue.held_by == held.request_id, "the user stays held"


def test_a_redriven_dead_letter_runs_again_when_its_wake_up_comes() -> None:
    dead = _row(1, status=Status.DEAD_LETTERED, attempts=3, processed_seq=1, completed_at=T0)
    again = redriven(dead, T0 - timedelta(seconds=1), first=True)
    tick = Tick([again], _queue(held_by=dead.request_id, hold_reason="retrying", processed_count=1))
    walk = tick.walk(_wakeup(again))
    [attempt] = walk.chain
    assert (attempt.request_id, attempt.attempt, attempt.attempts_before_redrive) == (dead.request_id, 4, 3)


def test_a_record_read_again_after_its_request_ended_changes_nothing() -> None:
    done = _row(1, status=Status.SUCCEEDED, attempts=1, processed_seq=1, completed_at=T0)
    tick = Tick([done], _queue(processed_count=1))
    walk = tick.walk(_arrival(done))
    assert walk.settled == 1 and walk.chain == []
    assert tick.decisions.effects.events == [] and tick.row(done) == done


def test_a_record_that_was_never_accepted_is_not_run() -> None:
    unknown = _row(1)
    tick = Tick([], _queue())
    walk = tick.walk(_arrival(unknown))
    assert walk.settled == 1 and walk.chain == [] and tick.decisions.effects.events == []


def test_an_unreadable_record_is_dead_lettered_with_its_reason() -> None:
    tick = Tick([], _queue())
    item = Inbound(Position(TOPICS.requests, 0, 9), b"k", b"{", [], None, problem="not JSON")
    tick.walk(item)
    [dead] = tick.decisions.effects.outgoing
    assert dead.topic == TOPICS.dead_letters and (wire.DLQ_ERROR, b"not JSON") in dead.headers
    assert tick.decisions.effects.unreadable == 1


def test_the_wake_up_record_carries_the_request() -> None:
    row = _row(1)
    record = wire.decode(RetryRecord, TOPICS.wakeup(row).value)
    assert record.request == RequestRecord.model_validate(wire.request_of(row).model_dump())


def test_a_request_found_processing_runs_again_alone_as_a_suspect() -> None:
    first, second = _row(1), _row(2)
    tick = Tick([first, second], _queue())
    walk = tick.walk(_arrival(first), _arrival(second))
    assert (walk.suspect, len(walk.chain)) == (False, 2)
    walk = tick.walk(_arrival(first), _arrival(second))  # read again by the next owner: its worker died
    assert walk.suspect and [a.request_id for a in walk.chain] == [first.request_id], "alone, no followers"
    assert tick.row(first).claims == 0, "the worker counts the run when it starts it (store.requests.count_claim)"


def test_a_request_whose_worker_died_max_record_crashes_times_is_dead_lettered_and_the_user_moves_on() -> None:
    crashed = _row(1, status=Status.PROCESSING, started_at=T0, claims=2, claimed_from=DRIVER)  # crashed, then two alone
    after = _row(2)
    tick = Tick([crashed, after], _queue())
    walk = tick.walk(_arrival(crashed), _arrival(after))
    row = tick.row(crashed)
    assert (row.status, row.error and row.error["cause"], row.processed_seq) == (
        Status.DEAD_LETTERED,
        "crashed_worker",
        1,
    )
    assert tick.decisions.effects.dead_letters == [("demo.echo", "crashed_worker")]
    assert [a.request_id for a in walk.chain] == [after.request_id]  # the user's next request runs


def test_a_request_below_max_record_crashes_runs_again_and_an_outcome_clears_its_count() -> None:
    crashed = _row(1, status=Status.PROCESSING, started_at=T0, claims=1, claimed_from=DRIVER)
    tick = Tick([crashed], _queue())
    assert tick.walk(_arrival(crashed)).suspect
    tick.finish(tick.row(crashed), Succeeded({}))
    tick.walk(_arrival(crashed), running=True)
    assert (tick.row(crashed).status, tick.row(crashed).claims) == (Status.SUCCEEDED, 0)


def test_a_run_its_worker_gave_up_is_no_crash_and_runs_again_as_usual() -> None:
    # a rebalance or a stop past the grace: the worker released the run (store.requests.release), however
    # many times before it ran alone
    given_up = _row(1, status=Status.PROCESSING, started_at=T0, claims=2, claimed_from=None)
    after = _row(2)
    tick = Tick([given_up, after], _queue())
    walk = tick.walk(_arrival(given_up), _arrival(after))
    assert not walk.suspect
    assert [a.request_id for a in walk.chain] == [given_up.request_id, after.request_id], "with its followers"
    assert (tick.row(given_up).status, tick.row(given_up).claimed_from) == (Status.PROCESSING, DRIVER)
    assert tick.decisions.effects.events == [], "still processing: no new event"


def test_a_request_at_its_last_crash_is_not_dead_lettered_while_its_chain_runs_here() -> None:
    crashed = _row(1, status=Status.PROCESSING, started_at=T0, claims=2, claimed_from=DRIVER)
    tick = Tick([crashed], _queue())
    tick.walk(_arrival(crashed), running=True)
    assert tick.row(crashed).status is Status.PROCESSING
