"""Sessions: a login opens one; its refresh token works once (rotation); logout ends it at once.

Presenting a refresh token that was already used means it leaked (or the client raced itself): the whole
session is revoked, so the thief's and the owner's tokens both stop working.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import Unauthorized, Unavailable
from producer_api.models import TokenPair
from producer_api.security import InvalidToken, decode, issue
from producer_api.services.groups import Full, GroupCommit
from producer_api.settings import ApiSettings
from store import request_log as events


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
    """End the session; its user's live streams wake up (and find it gone: they end too)."""
    await conn.execute(
        f"""with ended as (
                update sessions set revoked_at = now(), revoked_reason = %s
                 where session_id = %s and revoked_at is null returning user_id)
            select pg_notify('{events.CHANNEL}', user_id::text) from ended""",
        (reason, session_id),
    )


class SessionRoles:
    """The role of each request's user while its session is open (None once it is not): every request
    checks its session, so a logout ends access at once. The checks of concurrent requests share one
    statement (`GroupCommit`), not a round trip each."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._groups: GroupCommit[tuple[uuid.UUID, uuid.UUID], str | None] = GroupCommit(
            self._roles, max_items=256, in_flight=4, max_waiting=1024
        )

    async def role(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str | None:
        try:
            [role] = await self._groups.run([(user_id, session_id)])
        except Full:
            raise Unavailable("too many requests wait for the database") from None
        return role

    async def _roles(self, keys: list[tuple[uuid.UUID, uuid.UUID]]) -> list[str | None]:
        async with self._pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """select x.n, u.role
                         from unnest(%s::uuid[], %s::uuid[]) with ordinality as x(user_id, session_id, n)
                         join sessions s on s.session_id = x.session_id and s.user_id = x.user_id
                         join users u on u.user_id = x.user_id
                        where s.revoked_at is null and s.expires_at > now()""",
                    ([user_id for user_id, _ in keys], [session_id for _, session_id in keys]),
                )
            ).fetchall()
        found = {n: str(role) for n, role in rows}
        return [found.get(n) for n in range(1, len(keys) + 1)]
