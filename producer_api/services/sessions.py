"""Sessions: a login opens one; its refresh token works once (rotation); logout ends it at once.

Presenting a refresh token that was already used means it leaked (or the client raced itself): the whole
session is revoked, so the thief's and the owner's tokens both stop working.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import Unauthorized, Unavailable
from producer_api.models import TokenPair
from producer_api.security import InvalidToken, decode, issue
from producer_api.services.groups import Full, GroupCommit
from producer_api.settings import ApiSettings

SESSIONS_CHANNEL = "userq_sessions"  # notified with the user_id when a session may have ended (migration 0010)


async def open_session(pool: AsyncConnectionPool, settings: ApiSettings, user_id: uuid.UUID) -> TokenPair:
    session_id = uuid.uuid4()
    access = issue(settings, user_id, session_id, "access")
    refresh = issue(settings, user_id, session_id, "refresh")
    expires_at = datetime.now(UTC) + timedelta(seconds=refresh.ttl)
    async with pool.connection() as conn:
        await conn.execute(
            """insert into sessions (session_id, user_id, refresh_jti, expires_at, access_expires_at)
               values (%s, %s, %s, %s, now() + make_interval(secs => %s))""",
            (session_id, user_id, refresh.token_id, expires_at, access.ttl),
        )
    return TokenPair(access_token=access.token, refresh_token=refresh.token, expires_in=access.ttl)


async def rotate(pool: AsyncConnectionPool, settings: ApiSettings, refresh_token: str) -> TokenPair:
    """A new pair for a valid, unused refresh token; `Unauthorized` otherwise (a reused one ends the session)."""
    try:
        claims = decode(settings, refresh_token, "refresh")
    except InvalidToken:
        raise Unauthorized() from None
    reused = False
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(
                """select refresh_jti from sessions
                where session_id = %s and user_id = %s and revoked_at is null and expires_at > now()
                  for update""",
                (claims.session_id, claims.user_id),
            )
        ).fetchone()
        if row is None:
            raise Unauthorized()  # no such session, or it ended
        if row[0] != claims.token_id:
            reused = True  # the revocation commits; the caller gets the refusal after it
            await _revoke(conn, claims.session_id, "refresh_reused")
        else:
            access = issue(settings, claims.user_id, claims.session_id, "access")
            refresh = issue(settings, claims.user_id, claims.session_id, "refresh")
            await conn.execute(
                """update sessions set refresh_jti = %s, access_expires_at = now() + make_interval(secs => %s)
                    where session_id = %s""",
                (refresh.token_id, access.ttl, claims.session_id),
            )
    if reused:
        raise Unauthorized()
    return TokenPair(access_token=access.token, refresh_token=refresh.token, expires_in=access.ttl)


async def close(pool: AsyncConnectionPool, session_id: uuid.UUID) -> None:
    async with pool.connection() as conn:
        await _revoke(conn, session_id, "logout")


async def _revoke(conn: AsyncConnection[Any], session_id: uuid.UUID, reason: str) -> None:
    """End the session. Migration 0010's trigger tells every API process (`SessionRoles.forget`), and the
    user's live streams wake up and end."""
    await conn.execute(
        "update sessions set revoked_at = now(), revoked_reason = %s where session_id = %s and revoked_at is null",
        (reason, session_id),
    )


@dataclass(frozen=True)
class _Open:
    role: str
    expires_at: datetime


class SessionRoles:
    """The role of each request's user while its session is open (None once it is not).

    Known sessions are kept in memory, so the steady state costs no query: every change that can end a
    session's access (logout, revocation, a role changed, a user deleted) notifies `userq_sessions`
    (migration 0010), and the process's listener (`producer_api.services.feed.EventHub`) calls `forget`
    for that user: another process's logout ends access here within the notification's delay, this
    process's own at once. Nothing is kept while the listener is not connected (what it would miss could
    not be forgotten), and everything is forgotten when it connects again. While it is away because
    PostgreSQL is, what is kept stays valid: no session can end without PostgreSQL, and a session's
    expiry is checked here. Sessions not yet known are read from PostgreSQL, the reads of concurrent
    requests in one statement (`GroupCommit`)."""

    def __init__(self, pool: AsyncConnectionPool, max_kept: int = 100_000) -> None:
        self._pool = pool
        self._max_kept = max_kept
        self._kept: OrderedDict[tuple[uuid.UUID, uuid.UUID], _Open] = OrderedDict()
        self._by_user: defaultdict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        self._listening = False
        self._generation = 0  # changes whenever something is forgotten: a read older than that is not kept
        self._groups: GroupCommit[tuple[uuid.UUID, uuid.UUID], _Open | None] = GroupCommit(
            self._reads, max_items=256, in_flight=4, max_waiting=1024
        )

    async def role(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str | None:
        key = (user_id, session_id)
        known = self._kept.get(key)
        if known is not None and known.expires_at > datetime.now(UTC):
            return known.role
        generation = self._generation
        try:
            [read] = await self._groups.run([key])
        except Full:
            raise Unavailable("too many requests wait for the database") from None
        if read is not None and self._listening and generation == self._generation:
            self._keep(key, read)
        return None if read is None else read.role

    def listening(self, connected: bool) -> None:
        """The listener connected (everything known so far is forgotten) or lost its connection."""
        self._listening = connected
        if connected:
            self._generation += 1
            self._kept.clear()
            self._by_user.clear()

    def forget(self, user_id: uuid.UUID) -> None:
        """Something of the user's sessions changed: read them again when next needed."""
        self._generation += 1
        for session_id in self._by_user.pop(user_id, ()):
            self._kept.pop((user_id, session_id), None)

    def _keep(self, key: tuple[uuid.UUID, uuid.UUID], known: _Open) -> None:
        self._kept[key] = known
        self._by_user[key[0]].add(key[1])
        while len(self._kept) > self._max_kept:
            (user_id, session_id), _ = self._kept.popitem(last=False)
            sessions = self._by_user[user_id]
            sessions.discard(session_id)
            if not sessions:
                del self._by_user[user_id]

    async def _reads(self, keys: list[tuple[uuid.UUID, uuid.UUID]]) -> list[_Open | None]:
        async with self._pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """select x.n, u.role, s.expires_at
                         from unnest(%s::uuid[], %s::uuid[]) with ordinality as x(user_id, session_id, n)
                         join sessions s on s.session_id = x.session_id and s.user_id = x.user_id
                         join users u on u.user_id = x.user_id
                        where s.revoked_at is null and s.expires_at > now()""",
                    ([user_id for user_id, _ in keys], [session_id for _, session_id in keys]),
                )
            ).fetchall()
        found = {n: _Open(str(role), expires_at) for n, role, expires_at in rows}
        return [found.get(n) for n in range(1, len(keys) + 1)]
