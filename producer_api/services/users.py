"""Registering users (under the password rules) and checking their passwords (rehashed when weaker than
today's parameters)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
from anyio import to_thread
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import UsernameTaken
from producer_api.passwords import check
from producer_api.security import hash_password, needs_rehash, verify_password


@dataclass
class User:
    user_id: uuid.UUID
    username: str
    role: str


async def register(pool: AsyncConnectionPool, username: str, password: str) -> User:
    """A new user; `WeakPassword` when the password breaks a rule, `UsernameTaken` when the name is."""
    check(username, password)
    password_hash = await to_thread.run_sync(hash_password, password)
    async with pool.connection() as conn, conn.cursor(row_factory=class_row(User)) as cur:
        try:
            await cur.execute(
                """insert into users (user_id, username, password_hash) values (%s, %s, %s)
                   returning user_id, username, role""",
                (uuid.uuid4(), username, password_hash),
            )
        except psycopg.errors.UniqueViolation:
            raise UsernameTaken() from None
        user = await cur.fetchone()
    assert user is not None
    return user


async def authenticate(pool: AsyncConnectionPool, username: str, password: str) -> User | None:
    """The user when the password is right; None for a wrong password and an unknown user alike."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "select user_id, username, role, password_hash from users where username = %s", (username,)
            )
        ).fetchone()
    ok = await to_thread.run_sync(verify_password, row[3] if row else None, password)
    if not (ok and row):
        return None
    if needs_rehash(row[3]):
        await _rehash(pool, row[0], row[3], password)
    return User(row[0], row[1], row[2])


async def _rehash(pool: AsyncConnectionPool, user_id: uuid.UUID, old_hash: str, password: str) -> None:
    """Store a hash with today's parameters, unless the password changed meanwhile."""
    new_hash = await to_thread.run_sync(hash_password, password)
    async with pool.connection() as conn:
        await conn.execute(
            "update users set password_hash = %s where user_id = %s and password_hash = %s",
            (new_hash, user_id, old_hash),
        )


def create_admin(database_url: str, username: str, password: str) -> uuid.UUID:
    """Create a user with the admin role, or give an existing user (whose password matches) that role."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select user_id, password_hash from users where username = %s", (username,)).fetchone()
        if row is not None:
            if not verify_password(row[1], password):
                raise PermissionError(f"{username} exists and the password does not match")
            conn.execute("update users set role = 'admin' where user_id = %s", (row[0],))
            user_id: uuid.UUID = row[0]
            return user_id
        check(username, password)
        user_id = uuid.uuid4()
        conn.execute(
            "insert into users (user_id, username, password_hash, role) values (%s, %s, %s, 'admin')",
            (user_id, username, hash_password(password)),
        )
        return user_id
