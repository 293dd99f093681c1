"""The transactional outbox: what a batch publishes is written in its transaction, deleted once delivered.

Results, dead letters and wake-ups are inserted into `outbox` in the batch's transaction. After the
commit the worker delivers them and deletes the rows. A worker that dies in between leaves the rows:
the next batch that locks the same user publishes them before anything newer of that user (order kept),
and `claim_stale` lets any worker publish the rows of users that nobody touches any more. The API's
queue and operator actions write their wake-ups (and a purge its result events) here in the same way:
after the commit it delivers the wake-ups and deletes their rows (`producer_api.services.wakeups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from schemas.records import Outgoing

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Stored:
    ids: list[int]
    records: list[Outgoing]


_NEXT_IDS = "select nextval('outbox_id_seq') from generate_series(1, %s)"
_COPY = "copy outbox (id, user_id, topic, key, value, header_names, header_values) from stdin"


def add(conn: Conn, records: list[Outgoing]) -> list[int]:
    """Write `records` to the outbox (ids drawn first, rows copied in: one statement whatever their
    number); their ids. Not in pipeline mode: COPY ends a pipeline."""
    if not records:
        return []
    ids = [row[0] for row in conn.execute(_NEXT_IDS, (len(records),)).fetchall()]
    with conn.cursor() as cur, cur.copy(_COPY) as copy:
        for row in _rows(ids, records):
            copy.write_row(row)
    return ids


async def add_async(conn: psycopg.AsyncConnection[Any], records: list[Outgoing]) -> list[int]:
    """`add`, on an asynchronous connection (the API's)."""
    if not records:
        return []
    ids = [row[0] for row in await (await conn.execute(_NEXT_IDS, (len(records),))).fetchall()]
    async with conn.cursor() as cur, cur.copy(_COPY) as copy:
        for row in _rows(ids, records):
            await copy.write_row(row)
    return ids


def _rows(ids: list[int], records: list[Outgoing]) -> list[tuple[Any, ...]]:
    return [
        (id_, r.user_id, r.topic, r.key, r.value, [k for k, _ in r.headers], [_bytes(v) for _, v in r.headers])
        for id_, r in zip(ids, records, strict=True)
    ]


def pending(conn: Conn, user_ids: list[UUID]) -> Stored:
    """What earlier transactions of these users left undelivered, oldest first (their queues are locked)."""
    rows = conn.execute(
        """select id, user_id, topic, key, value, header_names, header_values from outbox
            where user_id = any(%b) order by id""",
        (user_ids,),
    ).fetchall()
    return _stored(rows)


def claim_stale(conn: Conn, older_than_s: float, limit: int) -> Stored:
    """Rows older than `older_than_s` of users no transaction holds now (their queues get locked until
    commit) and of unreadable records, oldest first."""
    rows = conn.execute(
        """with stale as (
               select distinct user_id from outbox
                where created_at < now() - make_interval(secs => %(age)s) and user_id is not null),
           locked as (
               select q.user_id from user_queues q join stale s on s.user_id = q.user_id
                order by q.user_id for update of q skip locked)
           select id, user_id, topic, key, value, header_names, header_values from outbox
            where user_id in (select user_id from locked)
               or (user_id is null and created_at < now() - make_interval(secs => %(age)s))
            order by id limit %(limit)s
              for update skip locked""",
        {"age": older_than_s, "limit": limit},
    ).fetchall()
    return _stored(rows)


# Delivered rows go; a row another transaction holds (a sweep publishing it now) is left to that one.
_DELETE = "delete from outbox where id in (select id from outbox where id = any(%s) for update skip locked)"


def delete(conn: Conn, ids: list[int]) -> None:
    """Delete the rows of records the broker acknowledged (never before: see the module's docstring)."""
    if ids:
        conn.execute(_DELETE, (ids,))


async def delete_async(conn: psycopg.AsyncConnection[Any], ids: list[int]) -> None:
    """`delete`, on an asynchronous connection (the API's, after it published a wake-up)."""
    if ids:
        await conn.execute(_DELETE, (ids,))


def _stored(rows: list[tuple[Any, ...]]) -> Stored:
    return Stored(
        [row[0] for row in rows],
        [Outgoing(row[2], row[3], row[4], list(zip(row[5], row[6], strict=True)), row[1]) for row in rows],
    )


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value
