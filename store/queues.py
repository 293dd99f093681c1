"""A user's queue row: the lock that orders everything done about the user, and its state.

Lock order, everywhere (worker ticks and the API's operator actions alike): partition epochs (shared),
then user queues by user_id, then requests. One order means two transactions never wait on each other in
a circle. Whoever holds a user's queue lock is the only one deciding about that user until it commits.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from schemas.lifecycle import Queue

_CREATE = """insert into user_queues (user_id)
             select u.user_id from users u where u.user_id = any(%b)
             on conflict (user_id) do nothing"""
_LOCK = """select user_id, held_by, hold_reason, paused_by from user_queues
            where user_id = any(%b) order by user_id for update"""
# Read only once the locks are held, by a statement of its own: a statement's snapshot is taken before it
# waits for a lock, and only the rows it locks are read again after the wait. In the locking statement
# these would be what the transaction we waited for had not yet committed.
_STATE = """select u.user_id, u.processed_count,
                   exists (select 1 from requests r where r.user_id = u.user_id and r.parked)
              from users u where u.user_id = any(%b)"""
_WRITE_HOLDS = """update user_queues q set held_by = x.held_by, hold_reason = x.hold_reason
                    from unnest(%b::uuid[], %b::uuid[], %b::text[]) as x(user_id, held_by, hold_reason)
                   where q.user_id = x.user_id"""
_WRITE_COUNTS = """update users u set processed_count = x.processed_count
                     from unnest(%b::uuid[], %b::bigint[]) as x(user_id, processed_count)
                    where u.user_id = x.user_id and u.processed_count <> x.processed_count"""
_SET_PAUSE = """update user_queues
                   set paused_at = case when %(by)s::text is null then null else coalesce(paused_at, now()) end,
                       paused_by = %(by)s
                 where user_id = %(user)s"""

Statement = tuple[str, tuple[Any, ...] | dict[str, Any]]

# Inserts and locks of a user's queue row at most: a queue the janitor deleted in between is created again
# (a user that does not exist never gets one).
_ATTEMPTS = 3


def lock(conn: psycopg.Connection[Any], user_ids: list[UUID]) -> dict[UUID, Queue]:
    """The queues of these users (created on first use), locked for this transaction.

    The janitor may delete a drained queue between our insert (which found it there) and our lock: such a
    queue is created again, ours from then on (no one else sees a row we inserted)."""
    ids = sorted(set(user_ids))
    locked: list[tuple[Any, ...]] = []
    missing = ids
    for _ in range(_ATTEMPTS):
        conn.execute(_CREATE, (missing,))
        locked += conn.execute(_LOCK, (missing,)).fetchall()
        if not (missing := _missing(missing, locked)):
            break
    return _queues(locked, conn.execute(_STATE, (ids,)).fetchall())


async def lock_one(conn: psycopg.AsyncConnection[Any], user_id: UUID) -> Queue | None:
    """The user's queue, locked as `lock` locks it; None when there is no such user."""
    locked: list[tuple[Any, ...]] = []
    for _ in range(_ATTEMPTS):
        await conn.execute(_CREATE, ([user_id],))
        locked = await (await conn.execute(_LOCK, ([user_id],))).fetchall()
        if locked:
            break
    state = await (await conn.execute(_STATE, ([user_id],))).fetchall()
    return _queues(locked, state).get(user_id)


def writes(queues: list[Queue]) -> list[Statement]:
    """The statements that store these (locked) queues' holds and counters."""
    if not queues:
        return []
    ids = [q.user_id for q in queues]
    return [
        (_WRITE_HOLDS, (ids, [q.held_by for q in queues], [q.hold_reason for q in queues])),
        (_WRITE_COUNTS, (ids, [q.processed_count for q in queues])),
    ]


def set_pause(queue: Queue) -> Statement:
    """The statement that stores whether (and by whom) `queue` is paused."""
    return _SET_PAUSE, {"by": queue.paused_by, "user": queue.user_id}


def _missing(ids: list[UUID], locked: list[tuple[Any, ...]]) -> list[UUID]:
    """Those of `ids` whose queue row was not locked (deleted since the insert, or no such user)."""
    have = {row[0] for row in locked}
    return [user_id for user_id in ids if user_id not in have]


def _queues(locked: list[tuple[Any, ...]], state: list[tuple[Any, ...]]) -> dict[UUID, Queue]:
    counts = {user_id: (count, parked) for user_id, count, parked in state}
    return {
        user_id: Queue(user_id, held_by, reason, paused_by, *counts[user_id])
        for user_id, held_by, reason, paused_by in locked
    }
