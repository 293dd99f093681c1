"""`store.queues` against a real PostgreSQL: what a tick reads once it holds its users' locks."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg

from harness.stack import Stack
from producer_api.janitor import _STATEMENTS
from schemas.lifecycle import Queue
from store import queues
from tests.support.waits import wait_for_lock_wait


def _user_with_a_parked_request(conn: psycopg.Connection[Any]) -> uuid.UUID:
    user_id, request_id = uuid.uuid4(), uuid.uuid4()
    conn.execute("insert into users (user_id, username, password_hash) values (%s, %s, 'x')", (user_id, str(user_id)))
    conn.execute("insert into user_queues (user_id) values (%s)", (user_id,))
    conn.execute(
        """insert into requests (request_id, user_id, type, payload, status, accepted_at, trace_id, sequence, parked)
           values (%s, %s, 'demo.echo', '{}', 'queued', now(), 't', 1, true)""",
        (request_id, user_id),
    )
    return user_id


def test_a_batch_that_waited_for_a_users_lock_reads_what_the_holder_committed(stack: Stack) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as setup:
        user_id = _user_with_a_parked_request(setup)
    with psycopg.connect(stack.database_url) as holder, psycopg.connect(stack.database_url) as waiter:
        queues.lock(holder, [user_id])  # another worker's batch holds the user...
        holder.execute("update requests set parked = false, status = 'succeeded', processed_seq = 1")
        holder.execute("update users set processed_count = 1")
        seen: list[Queue] = []
        thread = threading.Thread(target=lambda: seen.extend(queues.lock(waiter, [user_id]).values()))
        waiter_pid = waiter.info.backend_pid
        thread.start()
        wait_for_lock_wait(stack.database_url, waiter_pid, "the second batch to wait for the user's lock")
        assert not seen, "the second batch read the queue while another held its lock"
        holder.commit()  # ...and drains the parked request
        thread.join(10)
        waiter.rollback()
    [queue] = seen
    assert queue.has_parked is False, "read before the lock was granted: a parked request that is gone"
    assert queue.processed_count == 1, "read before the lock was granted: the next processed_seq would repeat"


def test_a_queue_the_janitor_deletes_while_a_tick_waits_for_its_lock_is_created_again(stack: Stack) -> None:
    """The janitor removes a drained queue (`producer_api.janitor`) between a tick's insert of the user's
    queue row (there already: nothing inserted) and its lock: the tick gets the queue all the same, created
    again and locked, rather than no queue for a user whose request it holds (a `KeyError` in the worker)."""
    user_id = uuid.uuid4()
    with psycopg.connect(stack.database_url, autocommit=True) as setup:
        setup.execute("insert into users (user_id, username, password_hash) values (%s, %s, 'x')", (user_id, "u"))
        setup.execute("insert into user_queues (user_id) values (%s)", (user_id,))  # drained, user disconnected
    with psycopg.connect(stack.database_url) as janitor, psycopg.connect(stack.database_url) as tick:
        janitor.execute("select 1 from user_queues where user_id = %s for update", (user_id,))  # its lock, first
        seen: list[dict[uuid.UUID, Queue] | BaseException] = []

        def lock() -> None:
            try:
                seen.append(queues.lock(tick, [user_id]))
            except BaseException as exc:
                seen.append(exc)

        thread = threading.Thread(target=lock)
        thread.start()
        wait_for_lock_wait(
            stack.database_url,
            tick.info.backend_pid,
            "the tick to wait for the queue's lock",
        )
        removed = janitor.execute(_JANITOR_QUEUES, {"batch": 10}).rowcount
        janitor.commit()  # ...then deletes it
        thread.join(10)
        assert removed == 1
        [got] = seen
        assert not isinstance(got, BaseException), got
        assert list(got) == [user_id], "no queue for a user whose request the tick holds"
        tick.commit()
    with psycopg.connect(stack.database_url, autocommit=True) as check:
        assert check.execute("select count(*) from user_queues where user_id = %s", (user_id,)).fetchone() == (1,)


_JANITOR_QUEUES = _STATEMENTS["queues"]
