"""Bench users, made in bulk: rows copied into `users` and `sessions`, tokens signed as the API signs them.

Registering through the API would cost an argon2 hash per user (tens of milliseconds each, by design);
the bench measures submitting, not logging in. The users get a password hash that never verifies, so
nobody can log in as one. Their tokens come from `producer_api.security.issue` with the API's own
settings, and each has an open session row, so the API's check (signature, claims, session, role) is
exactly the one a real client meets.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from bench.load import User
from producer_api.security import issue
from producer_api.settings import ApiSettings

_NO_LOGIN = "!bench-user-without-a-password"  # not an argon2 hash: verify_password refuses it


def create(database_url: str, count: int, prefix: str) -> list[uuid.UUID]:
    """`count` users named `<prefix>-<n>`, with COPY (a million take seconds)."""
    ids = [uuid.uuid4() for _ in range(count)]
    copy_users = "copy users (user_id, username, password_hash) from stdin"
    with psycopg.connect(database_url) as conn, conn.cursor() as cur, cur.copy(copy_users) as copy:
        for n, user_id in enumerate(ids):
            copy.write_row((user_id, f"{prefix}-{n}", _NO_LOGIN))
    return ids


def sign_in(database_url: str, settings: ApiSettings, user_ids: list[uuid.UUID]) -> list[User]:
    """An open session and a signed access token for each user."""
    users = []
    expires = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s)
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor() as cur,
        cur.copy("copy sessions (session_id, user_id, refresh_jti, expires_at, access_expires_at) from stdin") as copy,
    ):
        for user_id in user_ids:
            session_id = uuid.uuid4()
            access = issue(settings, user_id, session_id, "access")
            refresh = issue(settings, user_id, session_id, "refresh")
            copy.write_row(
                (session_id, user_id, refresh.token_id, expires, datetime.now(UTC) + timedelta(seconds=access.ttl))
            )
            users.append(User(str(user_id), access.token))
    return users
