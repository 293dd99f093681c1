"""Housekeeping that every API process runs, one at a time across processes (an advisory lock).

- Queue life: a queue is removed (its `user_queues` row deleted) once it is drained and its user has
  disconnected: no session whose access token is still valid (they logged out, or stopped refreshing)
  and no open live stream. A paused or held queue, or one with undelivered outbox records, stays; a
  request accepted later creates it again. The user's history stays, per the retention.
- Retention: terminal requests completed more than `RETENTION_DAYS` ago are deleted with their log
  entries and effects' rows, except dead letters nobody has discarded yet. Ended sessions, stale streams,
  past login windows go too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from psycopg_pool import AsyncConnectionPool

log = structlog.get_logger(__name__)

_LOCK = 0x75736572_6A616E  # pg_try_advisory_xact_lock key: one janitor at a time
_BATCH = 5000  # rows deleted per kind and round, so one round stays short


@dataclass(frozen=True)
class Housekeeping:
    interval_s: float
    retention_days: int
    stream_stale_s: float  # a stream whose heartbeat is older than this is gone


class Janitor:
    def __init__(self, pool: AsyncConnectionPool, rules: Housekeeping) -> None:
        self._pool = pool
        self._rules = rules

    async def run(self) -> None:
        """Sweep every `interval_s` until cancelled; a failed round is logged and tried again later."""
        while True:
            await asyncio.sleep(self._rules.interval_s)
            try:
                await self.sweep()
            except Exception as exc:  # the database may be down: the next round tries again
                log.warning("housekeeping failed; will try again", error=str(exc))

    async def sweep(self) -> dict[str, int]:
        """One round; the number of rows removed by kind (empty when another process holds the lock)."""
        rules = self._rules
        params = {"stale": rules.stream_stale_s, "days": rules.retention_days, "batch": _BATCH}
        removed: dict[str, int] = {}
        async with self._pool.connection() as conn, conn.transaction():
            locked = await (await conn.execute("select pg_try_advisory_xact_lock(%s)", (_LOCK,))).fetchone()
            if not (locked and locked[0]):
                return removed
            for kind, statement in _STATEMENTS.items():
                removed[kind] = (await conn.execute(statement, params)).rowcount
        if removed["queues"]:
            log.info("queues removed: drained and their users disconnected", queues=removed["queues"])
        return removed


_STATEMENTS = {
    "streams": "delete from streams where seen_at < now() - make_interval(secs => %(stale)s)",
    "queues": """
        with gone as (
            select q.user_id from user_queues q
             where q.held_by is null and q.paused_at is null
               and not exists (select 1 from requests r where r.user_id = q.user_id
                                  and r.status in ('queued', 'processing', 'retrying'))
               and not exists (select 1 from sessions s where s.user_id = q.user_id and s.revoked_at is null
                                  and s.expires_at > now() and s.access_expires_at > now())
               and not exists (select 1 from streams st where st.user_id = q.user_id)
               and not exists (select 1 from outbox o where o.user_id = q.user_id)
             limit %(batch)s
               for update of q skip locked)
        delete from user_queues q using gone where q.user_id = gone.user_id""",
    "requests": """
        with gone as (
            delete from requests where request_id in (
                select request_id from requests
                 where completed_at < now() - make_interval(days => %(days)s)
                   and (status <> 'dead_lettered' or discarded_at is not null)
                 limit %(batch)s)
            returning request_id),
        log as (  -- the request log has no foreign key (migration 0007): its rows go here
            delete from request_events e using gone where e.request_id = gone.request_id)
        select request_id from gone""",
    "sessions": """
        delete from sessions where coalesce(revoked_at, expires_at) < now() - make_interval(days => %(days)s)""",
    "login_windows": "delete from login_failures where window_end < now()",
}
