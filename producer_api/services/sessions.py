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

from producer_api.models import TokenPair
from producer_api.security import InvalidToken, decode, issue
from producer_api.settings import ApiSettings
from userq import events


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
    """A new pair for a valid, unused refresh token; `InvalidToken` otherwise (a reused one ends the session)."""
    claims = decode(settings, refresh_token, "refresh")
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
            raise InvalidToken("no such session")
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
        raise InvalidToken("refresh token reused; the session is revoked")
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


async def role_in_session(pool: AsyncConnectionPool, user_id: uuid.UUID, session_id: uuid.UUID) -> str | None:
    """The user's role while the session is open; None when the user or the session is gone."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                """select u.role from users u join sessions s on s.user_id = u.user_id
                where u.user_id = %s and s.session_id = %s and s.revoked_at is null and s.expires_at > now()""",
                (user_id, session_id),
            )
        ).fetchone()
    return str(row[0]) if row else None
