"""Wake-ups from the API: a record on the retry topic that makes the worker owning a user look at it
again (a redriven request, a resumed queue, a purge whose result events wait in the outbox).

The caller's transaction holds the user's queue lock and commits only after the broker acknowledged the
wake-up, so the worker that reads it sees what the transaction wrote (it waits on the same lock).
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from producer_api.errors import Unavailable
from producer_api.producer import AsyncProducer, NotDelivered
from schemas.lifecycle import RequestRow
from schemas.records import wakeup_of
from store import requests


class Wakeups:
    def __init__(self, producer: AsyncProducer, retry_topic: str) -> None:
        self._producer = producer
        self._retry_topic = retry_topic

    async def send(self, row: RequestRow) -> None:
        """Publish a wake-up for `row` (due at its next attempt, or now) and wait for the broker's
        acknowledgement; `Unavailable` when it does not come (the caller's transaction then rolls back)."""
        out = wakeup_of(row, self._retry_topic)
        assert out.key is not None and out.value is not None
        try:
            await self._producer.send(out.topic, out.key, out.value, out.headers)
        except NotDelivered:
            raise Unavailable("the queue is unavailable; nothing was changed") from None

    async def wake(self, conn: AsyncConnection[Any], request_id: uuid.UUID) -> None:
        """`send`, for the request `request_id`."""
        [row] = await requests.fetch(conn, requests.READ, ([request_id],))
        await self.send(row)

    async def resume_parked(self, conn: AsyncConnection[Any], user_id: uuid.UUID) -> None:
        """Wake the user's earliest parked request, if any: the worker then runs the parked ones in order."""
        for row in await requests.fetch(conn, requests.FIRST_PARKED, (user_id,)):
            await self.send(row)
