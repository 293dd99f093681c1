"""Each user's queue: its state, pause and resume, purge, and the operators' overview.

Every action takes the user's queue lock first, as the workers do (`store.queues`), so it never
races a worker's decision about that user: a pause returns once nothing of the user's is running, and
nothing starts after it. Resuming wakes the queue up through the retry topic; a purge writes its result
events to the outbox and wakes the worker that owns the user, which publishes them before anything newer.
A wake-up is written to the outbox in the action's transaction and published after its commit
(`services.wakeups`): no transaction waits on the broker.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import Busy, NotFound, PausedByOperator
from producer_api.models import (
    Purged,
    QueueOverview,
    QueueState,
    QueueSummary,
    QueueView,
    UserRequests,
    WaitingRequest,
    columns_of,
    page_of,
)
from producer_api.services.wakeups import Wakeups
from schemas.lifecycle import Actor, Event, Queue, cancelled, paused, resumed
from schemas.records import result_of
from store import outbox, request_log, requests
from store import queues as queue_rows
from store.outbox import Stored

Order = Literal["depth", "oldest"]

LOCK_WAIT_MS = 2000
_WAITING = columns_of(WaitingRequest)


class QueueService:
    def __init__(self, pool: AsyncConnectionPool, wakeups: Wakeups, results_topic: str) -> None:
        self._pool = pool
        self._wakeups = wakeups
        self._results_topic = results_topic

    async def view(self, user_id: uuid.UUID) -> QueueView:
        async with self._pool.connection() as conn:
            return await _view(conn, user_id)

    async def waiting(self, user_id: uuid.UUID, limit: int, after: int | None) -> UserRequests:
        """The user's requests not yet terminal after sequence `after`, in queue order, with the queue and
        the request that holds it (read in one snapshot)."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("set transaction isolation level repeatable read, read only")
            queue = await _view(conn, user_id)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute("select held_by from user_queues where user_id = %s", (user_id,))
                held = await cur.fetchone()
                await cur.execute(
                    f"""select {_WAITING} from requests
                         where user_id = %s and {requests.PENDING} and sequence > %s order by sequence limit %s""",
                    (user_id, -1 if after is None else after, limit + 1),
                )
                rows = [WaitingRequest.model_validate(row) for row in await cur.fetchall()]
        page, cursor = page_of(rows, limit, lambda row: str(row.sequence))
        return UserRequests(queue=queue, held_by=held["held_by"] if held else None, requests=page, next_cursor=cursor)

    async def pause(self, user_id: uuid.UUID, by: Actor) -> QueueView:
        async with self._pool.connection() as conn, conn.transaction():
            queue = await lock_queue(conn, user_id)
            if queue is None:
                raise NotFound("user")
            await conn.execute(*queue_rows.set_pause(paused(queue, by)))
            return await _view(conn, user_id)

    async def resume(self, user_id: uuid.UUID, by: Actor) -> QueueView:
        """Lift the pause and wake the queue: its waiting retry, or else its first parked request."""
        woken = Stored([], [])
        async with self._pool.connection() as conn, conn.transaction():
            queue = await lock_queue(conn, user_id)
            if queue is None:
                raise NotFound("user")
            if queue.paused:
                if queue.paused_by == "admin" and by == "user":
                    raise PausedByOperator()
                await conn.execute(*queue_rows.set_pause(resumed(queue)))
                if queue.hold_reason == "retrying" and queue.held_by is not None:
                    woken = await self._wakeups.wake(conn, queue.held_by)
                elif queue.held_by is None:
                    woken = await self._wakeups.resume_parked(conn, user_id)
            view = await _view(conn, user_id)
        await self._wakeups.publish(woken)  # committed: the worker may see it now
        return view

    async def purge(self, user_id: uuid.UUID, by: Actor) -> Purged:
        """Cancel the user's queued requests, in their order, each with its result event and log entry.
        A request already started (running, or waiting for its retry) is left to finish."""
        woken = Stored([], [])
        async with self._pool.connection() as conn, conn.transaction():
            queue = await lock_queue(conn, user_id)
            if queue is None:
                raise NotFound("user")
            rows = await requests.fetch(conn, requests.LOCK_QUEUED, (user_id,))
            if rows:
                at = await requests.now_async(conn)
                reason = f"purged by {'the user' if by == 'user' else 'an operator'}"
                done = [cancelled(row, at, queue.processed_count + n, reason) for n, row in enumerate(rows, 1)]
                queue.processed_count += len(done)
                for statement, params in requests.writes(done, [queue]):
                    await conn.execute(statement, params)
                await outbox.add_async(conn, [result_of(row, self._results_topic) for row in done])
                woken = await self._wakeups.add(conn, done[-1])  # the owning worker publishes the events
                log = [Event(user_id, r.request_id, r.status, r.attempts, at, r.error) for r in done]
                await conn.execute(request_log.RECORD_EVENTS, request_log.params(log, by))
            purged = Purged(cancelled=[row.request_id for row in rows], queue=await _view(conn, user_id))
        await self._wakeups.publish(woken)
        return purged

    async def overview(self, order: Order, limit: int) -> QueueOverview:
        """Totals, and the deepest queues or those waiting longest."""
        ordering = "p.depth desc" if order == "depth" else "p.oldest_queued_at asc nulls last"
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""with p as (
                        select user_id, count(*) as depth, count(*) filter (where status = 'retrying') as retrying,
                               min(accepted_at) filter (where status = 'queued') as oldest_queued_at
                          from requests where {requests.PENDING} group by user_id)
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
                f"""select (select count(distinct user_id) from requests where {requests.PENDING}) as active_queues,
                           (select count(*) from requests where {requests.PENDING}) as pending_requests,
                           count(*) filter (where paused_by is not null) as paused_queues,
                           count(*) filter (where held_by is not null) as held_queues
                      from user_queues"""
            )
            totals = await cur.fetchone()
        assert totals is not None
        return QueueOverview(**totals, queues=queues)


async def _view(conn: AsyncConnection[Any], user_id: uuid.UUID) -> QueueView:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""select (select count(*) from requests where user_id = %(u)s and {requests.PENDING}) as depth,
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


async def lock_queue(conn: AsyncConnection[Any], user_id: uuid.UUID) -> Queue | None:
    """The user's queue (created if the user exists and has none), locked for the transaction as a
    worker's tick locks it (`store.queues`); None when there is no such user. After `LOCK_WAIT_MS` the
    caller gets `Busy` rather than wait."""
    await conn.execute(f"set local lock_timeout = '{LOCK_WAIT_MS}ms'")
    try:
        queue = await queue_rows.lock_one(conn, user_id)
    except psycopg.errors.LockNotAvailable:
        raise Busy() from None
    await conn.execute("set local lock_timeout = 0")  # what follows waits only on locks we are first for
    return queue
