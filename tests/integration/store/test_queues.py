"""`store.queues` against a real PostgreSQL: what a tick reads once it holds its users' locks."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg

from harness.stack import Stack
from schemas.lifecycle import Queue
from store import queues
from tests.support.waits import wait_until


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
        with psycopg.connect(stack.database_url, autocommit=True) as observer:
            wait_until(
                lambda: observer.execute(
                    "select 1 from pg_stat_activity where pid = %s and wait_event_type = 'Lock'", (waiter_pid,)
                ).fetchone(),
                10,
                "the second batch to wait for the user's lock",
            )
        assert not seen, "the second batch read the queue while another held its lock"
        holder.commit()  # ...and drains the parked request
        thread.join(10)
        waiter.rollback()
    [queue] = seen
    assert queue.has_parked is False, "read before the lock was granted: a parked request that is gone"
    assert queue.processed_count == 1, "read before the lock was granted: the next processed_seq would repeat"
