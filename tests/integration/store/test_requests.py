"""`store.requests.ensure` against a real PostgreSQL: the API (after the broker's ack) and a worker (from the
record) may write the same rows at once; they take the row locks in one order, so neither waits on the
other in a circle."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from harness.stack import Stack
from schemas.lifecycle import Queue
from schemas.records import RequestRecord
from store import requests
from store.requests import Accepted
from tests.support.waits import wait_for_lock_wait, wait_until


def _accepted(user_id: uuid.UUID, offset: int) -> Accepted:
    record = RequestRecord(
        request_id=uuid.uuid4(),
        user_id=user_id,
        type="demo.echo",
        payload={"n": offset},
        accepted_at=datetime.now(UTC),
        trace_id="t",
    )
    return Accepted(record, 0, offset)


def _user(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> None:
    conn.execute("insert into users (user_id, username, password_hash) values (%s, %s, 'x')", (user_id, str(user_id)))


def test_two_writers_of_the_same_rows_in_opposite_orders_do_not_deadlock(stack: Stack) -> None:
    user_id = uuid.uuid4()
    with psycopg.connect(stack.database_url, autocommit=True) as setup:
        _user(setup, user_id)
    first, second = sorted((_accepted(user_id, 1), _accepted(user_id, 2)), key=lambda a: a.record.request_id)
    with psycopg.connect(stack.database_url) as api, psycopg.connect(stack.database_url) as worker:
        assert requests.ensure(api, [first]) == {first.record.request_id}  # the API's transaction, still open
        outcome: list[Any] = []

        def write() -> None:
            try:
                outcome.append(requests.ensure(worker, [second, first]))  # the worker's order is another
                worker.commit()
            except psycopg.Error as exc:
                outcome.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        wait_for_lock_wait(stack.database_url, worker.info.backend_pid, "the worker to wait for the API's row")
        # with one order the worker waits for `first` holding nothing: the API writes `second` at once
        assert requests.ensure(api, [second]) == {second.record.request_id}
        api.commit()
        thread.join(10)
    assert outcome == [set()], f"the worker's write: {outcome}"


def test_a_writer_that_goes_quiet_mid_transaction_is_ended_by_the_idle_timeout(stack: Stack) -> None:
    """A frozen worker's locks are released by PostgreSQL's `idle_in_transaction_session_timeout`, whatever
    statement it froze after. The timeout is armed only after the server answered a Sync: a psycopg pipeline
    ends with a Flush after its Sync, and a writer quiet after one held its locks for ever."""
    user_id = uuid.uuid4()
    with psycopg.connect(stack.database_url, autocommit=True) as setup:
        _user(setup, user_id)
        setup.execute("insert into user_queues (user_id) values (%s)", (user_id,))
    queue = Queue(user_id, held_by=None, hold_reason=None, paused_by=None, processed_count=1, has_parked=False)
    writer = psycopg.connect(stack.database_url, options="-c idle_in_transaction_session_timeout=200")
    try:
        requests.write(writer, [], [queue])  # its statements lock the user's queue row, in psycopg's transaction
        # the writer goes quiet (as if SIGSTOPped): nothing more is sent on its connection
        with psycopg.connect(stack.database_url, autocommit=True, options="-c lock_timeout=100") as other:

            def lockable() -> bool:
                try:
                    with other.transaction():
                        other.execute("select 1 from user_queues where user_id = %s for update", (user_id,))
                    return True
                except psycopg.errors.LockNotAvailable:
                    return False

            wait_until(lockable, 10, "PostgreSQL to end the quiet writer's transaction and free the user's queue")
    finally:
        writer.close()  # without a commit: PostgreSQL ended the transaction


def test_a_release_frees_only_the_runs_its_partitions_drive(stack: Stack) -> None:
    """`store.requests.release`: a worker giving up its runs frees those its partitions drive, and no run
    another partition drives (taken over), no request that is not running, and no row another transaction
    holds (skipped, not waited for)."""
    user_id = uuid.uuid4()
    ours, theirs, waiting, busy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        _user(conn, user_id)
        for sequence, (request_id, status, driver) in enumerate(
            [
                (ours, "processing", "r:0"),
                (theirs, "processing", "r.retry:0"),
                (waiting, "queued", "r:0"),
                (busy, "processing", "r:0"),
            ],
            1,
        ):
            conn.execute(
                """insert into requests (request_id, user_id, type, payload, status, accepted_at, trace_id, sequence,
                                         claimed_from)
                   values (%s, %s, 'demo.echo', '{}', %s, now(), 't', %s, %s)""",
                (request_id, user_id, status, sequence, driver),
            )
        with psycopg.connect(stack.database_url) as holder:  # a tick of another worker holds `busy`
            holder.execute("select 1 from requests where request_id = %s for update", (busy,))
            with conn.transaction():
                conn.execute("set local lock_timeout = '5s'")  # a release that waited would fail here
                requests.release(conn, [ours, theirs, waiting, busy], ["r:0"])
        drivers: dict[uuid.UUID, str | None] = dict(
            conn.execute("select request_id, claimed_from from requests where user_id = %s", (user_id,))
        )
    assert drivers == {ours: None, theirs: "r.retry:0", waiting: "r:0", busy: "r:0"}
