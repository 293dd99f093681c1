"""Each user's queue: its state, pause and resume, purge, and the operators' overview.

Every action takes the user's queue lock first, as the workers do (`wakeups.lock_queue`), so it never
races a worker's decision about that user: a pause returns once nothing of the user's is running, and
nothing starts after it. Resuming wakes the queue up through the retry topic; a purge writes its result
events to the outbox and wakes the worker that owns the user, which publishes them before anything newer.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import NotFound, PausedByOperator
from producer_api.models import Purged, QueueOverview, QueueState, QueueSummary, QueueView
from producer_api.services.wakeups import Wakeups, lock_queue
from schemas import records as wire
from schemas.lifecycle import Status
from schemas.records import ResultEvent
from store import request_log as events
from store.request_log import Event

Actor = Literal["user", "admin"]
Order = Literal["depth", "oldest"]

_PENDING = "status in ('queued', 'processing', 'retrying')"  # the predicate of index requests_pending


class QueueService:
    def __init__(self, pool: AsyncConnectionPool, wakeups: Wakeups, results_topic: str) -> None:
        self._pool = pool
        self._wakeups = wakeups
        self._results_topic = results_topic

    async def view(self, user_id: uuid.UUID) -> QueueView:
        async with self._pool.connection() as conn:
            return await _view(conn, user_id)

    async def pause(self, user_id: uuid.UUID, by: Actor) -> QueueView:
        async with self._pool.connection() as conn, conn.transaction():
            if await lock_queue(conn, user_id) is None:
                raise NotFound("user")
            # an operator's pause wins over a user's, whichever came first
            await conn.execute(
                """update user_queues
                      set paused_at = coalesce(paused_at, now()),
                          paused_by = case when paused_by = 'admin' then 'admin' else %s end
                    where user_id = %s""",
                (by, user_id),
            )
            return await _view(conn, user_id)

    async def resume(self, user_id: uuid.UUID, by: Actor) -> QueueView:
        """Lift the pause and wake the queue: its waiting retry, or else its first parked request."""
        async with self._pool.connection() as conn, conn.transaction():
            queue = await lock_queue(conn, user_id)
            if queue is None:
                raise NotFound("user")
            if queue["paused_by"] is not None:
                if queue["paused_by"] == "admin" and by == "user":
                    raise PausedByOperator()
                await conn.execute(
                    "update user_queues set paused_at = null, paused_by = null where user_id = %s", (user_id,)
                )
                if queue["hold_reason"] == "retrying":
                    await self._wakeups.send(conn, queue["held_by"])
                elif queue["held_by"] is None:
                    await self._wakeups.resume_parked(conn, user_id)
            return await _view(conn, user_id)

    async def purge(self, user_id: uuid.UUID, by: Actor) -> Purged:
        """Cancel the user's queued requests, in their order, each with its result event and log entry.
        A request already started (running, or waiting for its retry) is left to finish."""
        async with self._pool.connection() as conn, conn.transaction():
            if await lock_queue(conn, user_id) is None:
                raise NotFound("user")
            ids = [
                row[0]
                for row in await (
                    await conn.execute(
                        """select request_id from requests where user_id = %s and status = 'queued'
                            order by sequence for update""",
                        (user_id,),
                    )
                ).fetchall()
            ]
            if ids:
                rows = await _cancel(conn, user_id, ids, by)
                await self._publish(conn, rows)
                await self._wakeups.send(conn, ids[-1])  # the owning worker publishes the events now
                cancelled = [
                    Event(user_id, r["request_id"], Status.CANCELLED, r["attempts"], r["completed_at"], r["error"])
                    for r in rows
                ]
                await conn.execute(events.RECORD_EVENTS, events.params(cancelled, by))
            return Purged(cancelled=ids, queue=await _view(conn, user_id))

    async def overview(self, order: Order, limit: int) -> QueueOverview:
        """Totals, and the deepest queues or those waiting longest."""
        ordering = "p.depth desc" if order == "depth" else "p.oldest_queued_at asc nulls last"
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""with p as (
                        select user_id, count(*) as depth, count(*) filter (where status = 'retrying') as retrying,
                               min(accepted_at) filter (where status = 'queued') as oldest_queued_at
                          from requests where {_PENDING} group by user_id)
                    select p.*, u.username, q.paused_by, q.hold_reason
                      from p join users u using (user_id) left join user_queues q using (user_id)
                     order by {ordering}, p.user_id limit %s""",
                (limit,),
            )
            queues = [
                QueueSummary(**_summary(row, "active"), user_id=row["user_id"], username=row["username"])
                for row in await cur.fetchall()
            ]
            await cur.execute(
                f"""select (select count(distinct user_id) from requests where {_PENDING}) as active_queues,
                           (select count(*) from requests where {_PENDING}) as pending_requests,
                           count(*) filter (where paused_by is not null) as paused_queues,
                           count(*) filter (where held_by is not null) as held_queues
                      from user_queues"""
            )
            totals = await cur.fetchone()
        assert totals is not None
        return QueueOverview(**totals, queues=queues)

    async def _publish(self, conn: AsyncConnection[Any], rows: list[dict[str, Any]]) -> None:
        """The result events of `rows`, into the outbox (the owning worker delivers them in order)."""
        async with conn.cursor() as cur:
            await cur.executemany(
                """insert into outbox (user_id, topic, key, value, header_names, header_values)
                   values (%s, %s, %s, %s, %s, %s)""",
                [
                    (
                        row["user_id"],
                        self._results_topic,
                        str(row["user_id"]).encode(),
                        wire.encode(ResultEvent.of(row)),
                        [name for name, _ in headers],
                        [value for _, value in headers],
                    )
                    for row in rows
                    for headers in [wire.standard_headers(wire.RESULT_CONTENT_TYPE, row["trace_id"])]
                ],
            )


async def _cancel(
    conn: AsyncConnection[Any], user_id: uuid.UUID, ids: list[uuid.UUID], by: Actor
) -> list[dict[str, Any]]:
    """Make `ids` (queued, in order, locked) cancelled, with the user's next terminal-state counters."""
    error = {"kind": "cancelled", "message": f"purged by {'the user' if by == 'user' else 'an operator'}"}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """with counter as (
                   update users set processed_count = processed_count + %(n)s where user_id = %(user)s
                   returning processed_count - %(n)s as base)
               update requests r
                  set status = 'cancelled', processed_seq = (select base from counter) + x.n,
                      completed_at = clock_timestamp(), parked = false, error = %(error)s
                 from unnest(%(ids)s::uuid[]) with ordinality as x(id, n)
                where r.request_id = x.id
            returning r.*""",
            {"n": len(ids), "user": user_id, "ids": ids, "error": Jsonb(error)},
        )
        rows = await cur.fetchall()
    return sorted(rows, key=lambda row: row["processed_seq"])


async def _view(conn: AsyncConnection[Any], user_id: uuid.UUID) -> QueueView:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""select (select count(*) from requests where user_id = %(u)s and {_PENDING}) as depth,
                       (select count(*) from requests where user_id = %(u)s and status = 'retrying') as retrying,
                       (select min(accepted_at) from requests where user_id = %(u)s and status = 'queued')
                           as oldest_queued_at,
                       q.user_id is not null as exists, q.paused_by, q.hold_reason,
                       exists (select 1 from requests where user_id = %(u)s) as used
                  from users u left join user_queues q using (user_id)
                 where u.user_id = %(u)s""",
            {"u": user_id},
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound("user")
    state: QueueState = (
        "active" if row["depth"] else "drained" if row["exists"] else "removed" if row["used"] else "none"
    )
    return QueueView(**_summary(row, state))


def _summary(row: dict[str, Any], state: QueueState) -> dict[str, Any]:
    return {
        "depth": row["depth"],
        "retrying": row["retrying"],
        "oldest_queued_at": row["oldest_queued_at"],
        "paused": row["paused_by"] is not None,
        "paused_by": row["paused_by"],
        "hold": row["hold_reason"],
        "state": state,
    }
