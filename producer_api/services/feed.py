"""Live streams: each user's request state changes as Server-Sent Events, in order, resumable.

The events are the request log (`request_events`), numbered per user in commit order; an event's SSE `id`
is that number, so a client that reconnects with `Last-Event-ID` gets exactly the events after it. One
LISTEN connection per API process (`EventHub`) wakes the streams of a user when a transaction recorded
events of theirs (or ended one of their sessions); a stream that hears nothing still looks every
heartbeat, so a missed notification delays an event by one heartbeat at most, never loses it.

An open stream counts as its user being connected (the `streams` table, refreshed every heartbeat). A
stream ends when its session does (logout, expiry, revocation, user deleted), and after
`STREAM_MAX_DURATION_S` (the client reconnects with `Last-Event-ID`, as SSE clients do by themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import TooManyStreams
from producer_api.services.sessions import SESSIONS_CHANNEL, SessionRoles
from store import request_log as events

log = structlog.get_logger(__name__)

_PAGE = 500  # events read per query


@dataclass(frozen=True)
class StreamLimits:
    heartbeat_s: float
    max_per_user: int
    max_duration_s: float  # then the stream ends; the client reconnects with `Last-Event-ID`


class EventHub:
    """The notifications of one LISTEN connection, for this process: `userq_events` wakes the streams
    of a user, `userq_sessions` (migration 0010) makes `SessionRoles` forget the user's sessions and wakes
    their streams, which then end if their session did."""

    def __init__(self, database_url: str, roles: SessionRoles) -> None:
        self._database_url = database_url
        self._roles = roles
        self._waiters: defaultdict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a failure (and waking every stream then)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._database_url, autocommit=True) as conn:
                    await conn.execute(f"listen {events.CHANNEL}")
                    await conn.execute(f"listen {SESSIONS_CHANNEL}")
                    self._roles.listening(True)
                    self._wake_all()  # what was committed while nobody listened
                    async for notify in conn.notifies():
                        self._heard(notify.channel, notify.payload)
            except psycopg.Error as exc:
                log.warning("event listener lost its connection; reconnecting", error=str(exc))
                self._roles.listening(False)
                self._wake_all()
                await asyncio.sleep(1)

    @contextlib.contextmanager
    def subscribe(self, user_id: uuid.UUID) -> Iterator[asyncio.Event]:
        woken = asyncio.Event()
        self._waiters[user_id].add(woken)
        try:
            yield woken
        finally:
            self._waiters[user_id].discard(woken)
            if not self._waiters[user_id]:
                del self._waiters[user_id]

    def _heard(self, channel: str, payload: str) -> None:
        try:
            user_id = uuid.UUID(payload)
        except ValueError:
            return
        if channel == SESSIONS_CHANNEL:
            self._roles.forget(user_id)
        for woken in self._waiters.get(user_id, ()):
            woken.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for woken in waiters:
                woken.set()


class Streams:
    def __init__(self, pool: AsyncConnectionPool, roles: SessionRoles, hub: EventHub, limits: StreamLimits) -> None:
        self._pool = pool
        self._roles = roles
        self._hub = hub
        self._limits = limits

    async def open(self, user_id: uuid.UUID, session_id: uuid.UUID, after: int) -> AsyncIterator[bytes]:
        """Register a stream of `user_id`'s events after `after`; `TooManyStreams` over the limit. The
        returned iterator yields the SSE text until the session ends or the client goes away."""
        stream_id = uuid.uuid4()
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"streams:{user_id}",))  # one at a time
            row = await (
                await conn.execute(
                    "select count(*) from streams where user_id = %s and seen_at > now() - make_interval(secs => %s)",
                    (user_id, self._stale_s),
                )
            ).fetchone()
            if row and row[0] >= self._limits.max_per_user:
                raise TooManyStreams()
            await conn.execute("insert into streams (stream_id, user_id) values (%s, %s)", (stream_id, user_id))
        return self._events(stream_id, user_id, session_id, after)

    @property
    def _stale_s(self) -> float:
        return 3 * self._limits.heartbeat_s

    async def _events(
        self, stream_id: uuid.UUID, user_id: uuid.UUID, session_id: uuid.UUID, after: int
    ) -> AsyncIterator[bytes]:
        deadline = time.monotonic() + self._limits.max_duration_s
        try:
            yield f"retry: {int(self._limits.heartbeat_s * 1000)}\n\n".encode()
            with self._hub.subscribe(user_id) as woken:
                while time.monotonic() < deadline:
                    woken.clear()
                    if await self._roles.role(user_id, session_id) is None:
                        return  # logged out, expired, revoked or deleted: the stream ends with the session
                    page = await self._read(user_id, after)
                    for event in page:
                        after = event["seq"]
                        yield _format(event)
                    if len(page) == _PAGE:
                        continue
                    try:
                        await asyncio.wait_for(woken.wait(), min(self._limits.heartbeat_s, deadline - time.monotonic()))
                    except TimeoutError:
                        await self._touch(stream_id)
                        yield b": heartbeat\n\n"
        finally:
            with anyio.CancelScope(shield=True):  # the client went away: still say so
                async with self._pool.connection() as conn:
                    await conn.execute("delete from streams where stream_id = %s", (stream_id,))

    async def _read(self, user_id: uuid.UUID, after: int) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                """select e.seq, e.request_id, r.type, e.status, e.attempt, e.at, e.error, r.sequence,
                          case when e.status = 'succeeded' and r.status = 'succeeded' then r.result end as result
                     from request_events e join requests r using (request_id)
                    where e.user_id = %s and e.seq > %s
                    order by e.seq limit %s""",
                (user_id, after, _PAGE),
            )
            return await cur.fetchall()

    async def _touch(self, stream_id: uuid.UUID) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("update streams set seen_at = now() where stream_id = %s", (stream_id,))


def _format(event: dict[str, Any]) -> bytes:
    """One SSE message: `id` (the user's event number), `event: request`, the JSON state change."""
    return b"id: %d\nevent: request\ndata: %s\n\n" % (event["seq"], orjson.dumps(event))
