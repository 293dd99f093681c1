"""Wake-ups from the API: a record on the retry topic that makes the worker owning a user look at it
again (a redriven request, a resumed queue, a purge whose result events wait in the outbox).

Nothing waits on the broker inside a transaction. The action's transaction, which holds the user's queue
lock, writes the wake-up to the outbox (`add`, `wake`, `resume_parked`) and commits; then `publish`
delivers it and deletes its row once the broker acknowledged it. A worker can read the wake-up only
after the commit, so it sees what the action wrote. When the broker does not acknowledge within
PRODUCE_TIMEOUT_S the action has happened all the same (it is committed) and its answer is the usual
one: the row stays in the outbox, and the next tick that locks the user or a worker's outbox sweep
publishes it. A wake-up published twice is harmless: the worker decides on the request's row.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import structlog
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from producer_api.producer import AsyncProducer, NotDelivered
from schemas.lifecycle import RequestRow
from schemas.records import wakeup_of
from store import outbox, requests
from store.outbox import Stored

log = structlog.get_logger(__name__)


class Wakeups:
    def __init__(self, pool: AsyncConnectionPool, producer: AsyncProducer, retry_topic: str) -> None:
        self._pool = pool
        self._producer = producer
        self._retry_topic = retry_topic

    async def add(self, conn: AsyncConnection[Any], row: RequestRow) -> Stored:
        """Write a wake-up for `row` (due at its next attempt, or now) to the outbox, in the caller's
        transaction; `publish` it after the commit."""
        out = wakeup_of(row, self._retry_topic)
        return Stored(await outbox.add_async(conn, [out]), [out])

    async def wake(self, conn: AsyncConnection[Any], request_id: uuid.UUID) -> Stored:
        """`add`, for the request `request_id`."""
        [row] = await requests.fetch(conn, requests.READ, ([request_id],))
        return await self.add(conn, row)

    async def resume_parked(self, conn: AsyncConnection[Any], user_id: uuid.UUID) -> Stored:
        """Wake the user's earliest parked request, if any: the worker then runs the parked ones in order."""
        for row in await requests.fetch(conn, requests.FIRST_PARKED, (user_id,)):
            return await self.add(conn, row)
        return Stored([], [])

    async def publish(self, stored: Stored) -> None:
        """After the commit, best effort: deliver the wake-ups, then delete their outbox rows. What is not
        delivered (or not deleted) stays in the outbox for the workers to publish."""
        try:
            for out in stored.records:
                assert out.key is not None and out.value is not None
                await self._producer.send(out.topic, out.key, out.value, out.headers)
        except NotDelivered as exc:
            log.warning("wake-up not delivered; the outbox keeps it", error=str(exc), records=len(stored.ids))
            return
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await outbox.delete_async(conn, stored.ids)
        except psycopg.Error as exc:
            log.warning("wake-up delivered; its outbox row stays", error=str(exc), records=len(stored.ids))
