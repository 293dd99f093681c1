"""Operator actions on dead letters: list, redrive (back into the user's order), discard.

Every action takes the user's queue lock first, as the workers do, so that it never races a worker's
decision about that user. A redrive puts the earliest redriven request into `retrying` and holds the
user with it; the other redriven requests are parked behind it, so they all run before the user's
later parked requests, in their original order. A wake-up on the retry topic starts it: written to the
outbox in the action's transaction, published after the commit (`services.wakeups`), so no transaction
waits on the broker.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import Busy, HaltedByAnother, NotFound
from producer_api.models import DeadLetterPage, DeadLetterView, RequestView, columns_of, page_of
from producer_api.services.queues import lock_queue
from producer_api.services.wakeups import Wakeups
from schemas import lifecycle
from schemas.lifecycle import Event
from store import queues as queue_rows
from store import request_log, requests
from store.outbox import Stored

_COLUMNS = columns_of(DeadLetterView)
_ACTIVE_DEAD = "status = 'dead_lettered' and discarded_at is null"


class AdminService:
    def __init__(self, pool: AsyncConnectionPool, wakeups: Wakeups) -> None:
        self._pool = pool
        self._wakeups = wakeups

    async def dead_letters(
        self, user_id: uuid.UUID | None, type_: str | None, limit: int, after: tuple[uuid.UUID, int] | None
    ) -> DeadLetterPage:
        after_user, after_seq = after or (uuid.UUID(int=0), -1)
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""select {_COLUMNS} from requests
                     where {_ACTIVE_DEAD} and (%(user)s::uuid is null or user_id = %(user)s)
                       and (%(type)s::text is null or type = %(type)s)
                       and (user_id, sequence) > (%(after_user)s, %(after_seq)s)
                     order by user_id, sequence limit %(limit)s""",
                {"user": user_id, "type": type_, "after_user": after_user, "after_seq": after_seq, "limit": limit + 1},
            )
            rows = [DeadLetterView.model_validate(row) for row in await cur.fetchall()]
        page, cursor = page_of(rows, limit, lambda row: f"{row.user_id}:{row.sequence}")
        return DeadLetterPage(dead_letters=page, next_cursor=cursor)

    async def redrive(self, user_id: uuid.UUID | None, request_id: uuid.UUID | None) -> list[RequestView]:
        """Redrive one dead letter (`request_id`) or all of a user's (`user_id`), in their order."""
        async with self._pool.connection() as conn, conn.transaction():
            owner = user_id or await _owner(conn, request_id)
            queue = await lock_queue(conn, owner)
            if queue and queue.hold_reason == "retrying":
                raise Busy()
            rows = await requests.fetch(conn, requests.LOCK_DEAD, (owner, request_id, request_id))
            if not rows:
                raise NotFound("dead letter")
            ids = [row.request_id for row in rows]
            if queue and queue.held_by is not None and queue.hold_reason == "halted" and queue.held_by not in ids:
                raise HaltedByAnother(queue.held_by)
            at = await requests.now_async(conn)
            redriven = [lifecycle.redriven(row, at, first=n == 0) for n, row in enumerate(rows)]
            held = [replace(queue, held_by=ids[0], hold_reason="retrying")] if queue else []
            for statement, params in requests.writes(redriven, held):
                await conn.execute(statement, params)
            views = await _views(conn, ids)
            woken = await self._wakeups.add(conn, redriven[0])
            log = [Event(r.user_id, r.request_id, r.status, r.attempts, at, r.error) for r in redriven]
            await conn.execute(request_log.RECORD_EVENTS, request_log.params(log, "admin"))
        await self._wakeups.publish(woken)
        return views

    async def discard(self, request_id: uuid.UUID) -> RequestView:
        """Take a dead letter off the list; if it halted its user, the user's parked requests resume."""
        woken = Stored([], [])
        async with self._pool.connection() as conn, conn.transaction():
            owner = await _owner(conn, request_id)
            queue = await lock_queue(conn, owner)
            cur = await conn.execute(
                f"update requests set discarded_at = now() where request_id = %s and {_ACTIVE_DEAD}", (request_id,)
            )
            if cur.rowcount != 1:
                raise NotFound("dead letter")
            if queue and queue.held_by == request_id:
                for statement, params in queue_rows.writes([replace(queue, held_by=None, hold_reason=None)]):
                    await conn.execute(statement, params)
                woken = await self._wakeups.resume_parked(conn, owner)
            [view] = await _views(conn, [request_id])
        await self._wakeups.publish(woken)
        return view


async def _owner(conn: AsyncConnection[Any], request_id: uuid.UUID | None) -> uuid.UUID:
    row = await (await conn.execute("select user_id from requests where request_id = %s", (request_id,))).fetchone()
    if row is None:
        raise NotFound("dead letter")
    owner: uuid.UUID = row[0]
    return owner


async def _views(conn: AsyncConnection[Any], ids: list[uuid.UUID]) -> list[RequestView]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"select {_COLUMNS} from requests where request_id = any(%s) order by sequence", (ids,))
        return [RequestView.model_validate(row) for row in await cur.fetchall()]
