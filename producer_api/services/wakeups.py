"""Wake-ups from the API: a record on the retry topic that makes the worker owning a user look at it
again (a redriven request, a resumed queue, a purge whose result events wait in the outbox).

The caller's transaction holds the user's queue lock and commits only after the broker acknowledged the
wake-up, so the worker that reads it sees what the transaction wrote (it waits on the same lock).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from producer_api.errors import Busy, Unavailable
from producer_api.producer import AsyncProducer, NotDelivered
from schemas import records as wire
from schemas.records import RequestRecord, RetryRecord

LOCK_WAIT_MS = 2000


class Wakeups:
    def __init__(self, producer: AsyncProducer, retry_topic: str) -> None:
        self._producer = producer
        self._retry_topic = retry_topic

    async def send(self, conn: AsyncConnection[Any], request_id: uuid.UUID) -> None:
        """Publish a wake-up for `request_id`, due at its next attempt (or now), and wait for the broker's
        acknowledgement; `Unavailable` when it does not come (the caller's transaction then rolls back)."""
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                """select request_id, user_id, type, payload, accepted_at, trace_id, attempts, next_attempt_at,
                          first_failed_at, error
                     from requests where request_id = %s""",
                (request_id,),
            )
            row = await cur.fetchone()
        assert row is not None
        request = RequestRecord(
            request_id=row["request_id"],
            user_id=row["user_id"],
            type=row["type"],
            payload=row["payload"],
            accepted_at=row["accepted_at"],
            trace_id=row["trace_id"],
        )
        due = row["next_attempt_at"] or datetime.now(UTC)
        record = RetryRecord.wakeup(request, row["attempts"], due, row["first_failed_at"], row["error"])
        try:
            await self._producer.send(
                self._retry_topic,
                str(row["user_id"]).encode(),
                wire.encode(record),
                wire.standard_headers(wire.RETRY_CONTENT_TYPE, row["trace_id"]),
            )
        except NotDelivered:
            raise Unavailable("the queue is unavailable; nothing was changed") from None

    async def resume_parked(self, conn: AsyncConnection[Any], user_id: uuid.UUID) -> None:
        """Wake the user's earliest parked request, if any: the worker then runs the parked ones in order."""
        parked = await (
            await conn.execute(
                "select request_id from requests where user_id = %s and parked order by sequence limit 1", (user_id,)
            )
        ).fetchone()
        if parked:
            await self.send(conn, parked[0])


async def lock_queue(conn: AsyncConnection[Any], user_id: uuid.UUID) -> dict[str, Any] | None:
    """The user's queue row (created if the user exists and has none), locked for the transaction, as a
    worker's batch locks it; None when there is no such user. A worker holds the lock while it runs a
    batch of the user's (handlers included): after `LOCK_WAIT_MS` the caller gets `Busy` rather than wait."""
    await conn.execute(f"set local lock_timeout = '{LOCK_WAIT_MS}ms'")
    try:
        await conn.execute(
            "insert into user_queues (user_id) select user_id from users where user_id = %s on conflict do nothing",
            (user_id,),
        )
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "select held_by, hold_reason, paused_by from user_queues where user_id = %s for update", (user_id,)
            )
            queue = await cur.fetchone()
    except psycopg.errors.LockNotAvailable:
        raise Busy() from None
    await conn.execute("set local lock_timeout = 0")  # what follows waits only on locks we are first for
    return queue
