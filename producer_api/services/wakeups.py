"""Wake-ups from the API: a record on the retry topic that makes the worker owning a user look at it
again (a redriven request, a resumed queue, a purge whose result events wait in the outbox).

The caller's transaction holds the user's queue lock and commits only after the broker acknowledged the
wake-up, so the worker that reads it sees what the transaction wrote (it waits on the same lock).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import AsyncConnection

from producer_api.producer import AsyncProducer
from schemas.lifecycle import Queue, RequestRow
from schemas.records import wakeup_of
from store import queues, requests

LOCK_WAIT_MS = 2000


class Wakeups:
    def __init__(self, producer: AsyncProducer, retry_topic: str) -> None:
        self._producer = producer
        self._retry_topic = retry_topic

    async def send(self, row: RequestRow) -> None:
        """Publish a wake-up for `row` (due at its next attempt, or now) and wait for the broker's
        acknowledgement; `NotDelivered` when it does not come."""
        out = wakeup_of(row, self._retry_topic)
        assert out.key is not None and out.value is not None
        await self._producer.send(out.topic, out.key, out.value, out.headers)

    async def wake(self, conn: AsyncConnection[Any], request_id: uuid.UUID) -> None:
        """`send`, for the request `request_id`."""
        [row] = await requests.fetch(conn, requests.READ, ([request_id],))
        await self.send(row)

    async def resume_parked(self, conn: AsyncConnection[Any], user_id: uuid.UUID) -> None:
        """Wake the user's earliest parked request, if any: the worker then runs the parked ones in order."""
        for row in await requests.fetch(conn, requests.FIRST_PARKED, (user_id,)):
            await self.send(row)


class Busy(Exception):
    """A worker is running the user's requests (or a retry is in flight): try again shortly."""


async def lock_queue(conn: AsyncConnection[Any], user_id: uuid.UUID) -> Queue | None:
    """The user's queue (created if the user exists and has none), locked for the transaction as a
    worker's tick locks it (`store.queues`); None when there is no such user. After `LOCK_WAIT_MS` the
    caller gets `Busy` rather than wait."""
    await conn.execute(f"set local lock_timeout = '{LOCK_WAIT_MS}ms'")
    try:
        queue = await queues.lock_one(conn, user_id)
    except psycopg.errors.LockNotAvailable:
        raise Busy(user_id) from None
    await conn.execute("set local lock_timeout = 0")  # what follows waits only on locks we are first for
    return queue
