"""Request rows in PostgreSQL: read them locked as `RequestRow`s, write changed ones back in one statement.

Every status change, by the worker or by the API, is made in memory by `schemas.lifecycle` on rows read
here under the user's queue lock (`store.queues`), and stored by `writes`: set-based, whatever the count.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.lifecycle import Queue, RequestRow
from schemas.records import RequestRecord
from store import queues as queue_rows
from store.queues import Statement

Conn = psycopg.Connection[Any]

COLUMNS = ", ".join(f.name for f in fields(RequestRow))  # in field order: rows are made positionally
PENDING = "status in ('queued', 'processing', 'retrying')"  # not yet terminal: the predicate of index requests_pending
LOCK = f"select {COLUMNS} from requests where request_id = any(%b) order by request_id for update"
LOCK_QUEUED = f"select {COLUMNS} from requests where user_id = %s and status = 'queued' order by sequence for update"
LOCK_DEAD = f"""select {COLUMNS} from requests
                 where user_id = %s and status = 'dead_lettered' and discarded_at is null
                   and (%s::uuid is null or request_id = %s)
                 order by sequence for update"""
READ = f"select {COLUMNS} from requests where request_id = any(%b) order by sequence"
FIRST_PARKED = f"select {COLUMNS} from requests where user_id = %s and parked order by sequence limit 1"
_PARKED = f"select {COLUMNS} from requests where user_id = %s and parked order by sequence limit %s for update"


def lock(conn: Conn, request_ids: list[UUID]) -> dict[UUID, RequestRow]:
    """The rows of these requests, locked for this transaction; unknown ids are absent."""
    with conn.cursor() as cur:  # tuples, made into rows positionally: cheaper than by name
        rows = [RequestRow(*values) for values in cur.execute(LOCK, (request_ids,)).fetchall()]
    return {row.request_id: row for row in rows}


async def fetch(conn: psycopg.AsyncConnection[Any], statement: str, params: tuple[Any, ...]) -> list[RequestRow]:
    """The rows a statement of this module (`LOCK_QUEUED`, `LOCK_DEAD`, `READ`, `FIRST_PARKED`) selects."""
    async with conn.cursor() as cur:
        await cur.execute(statement, params)
        return [RequestRow(*values) for values in await cur.fetchall()]


def parked(conn: Conn, user_id: UUID, limit: int) -> list[RequestRow]:
    """The user's earliest parked requests, in order, locked."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        return cur.execute(_PARKED, (user_id, limit)).fetchall()


@dataclass(frozen=True)
class Accepted:
    """A request the broker acknowledged: its record, where it is, and (from the API) its key."""

    record: RequestRecord
    partition: int
    offset: int
    idempotency_key: str | None = None
    body_hash: bytes | None = None


_ENSURE = """
    with queues as (  -- a user's queue comes with their first request, in the lock order: queues first
        insert into user_queues (user_id)
        select distinct u.user_id from users u where u.user_id = any(%b) order by 1
        on conflict do nothing)
    insert into requests (request_id, user_id, type, payload, status, accepted_at, trace_id, sequence,
                          kafka_partition, idempotency_key, body_hash)
    select r.id, r.user_id, r.type, r.payload, 'queued', r.accepted_at, r.trace_id, r.offset_, r.partition_,
           r.key_, r.hash_
      from unnest(%b::uuid[], %b::uuid[], %b::text[], %b::jsonb[], %b::timestamptz[], %b::text[], %b::bigint[],
                  %b::int[], %b::text[], %b::bytea[]) with ordinality
           as r(id, user_id, type, payload, accepted_at, trace_id, offset_, partition_, key_, hash_, n)
     where exists (select 1 from users u where u.user_id = r.user_id)
     order by r.id  -- one order for the API and the workers: two of them never wait on each other in a circle
    on conflict do nothing
    returning request_id"""


_MISSING = """select id from unnest(%b::uuid[]) as id
               where not exists (select 1 from requests r where r.request_id = id)"""


def ensure(conn: Conn, accepted: list[Accepted]) -> set[UUID]:
    """Write the rows of these accepted requests where they are not written yet (the API writes them
    after the broker's ack; a worker that meets a record first writes it from the record). A user that
    does not exist gets nothing. The ids of the rows written now.

    Most rows are there already: they are looked for by id first, and only the missing ones are sent."""
    missing = {row[0] for row in conn.execute(_MISSING, ([a.record.request_id for a in accepted],)).fetchall()}
    if not missing:
        return set()
    wanted = [a for a in accepted if a.record.request_id in missing]
    return {row[0] for row in conn.execute(_ENSURE, _accepted(wanted)).fetchall()}


async def ensure_async(conn: psycopg.AsyncConnection[Any], accepted: list[Accepted]) -> set[UUID]:
    """`ensure`, on an asynchronous connection (the API's)."""
    return {row[0] for row in await (await conn.execute(_ENSURE, _accepted(accepted))).fetchall()}


def _accepted(accepted: list[Accepted]) -> tuple[list[Any], ...]:
    records = [a.record for a in accepted]
    return (
        [r.user_id for r in records],
        [r.request_id for r in records],
        [r.user_id for r in records],
        [r.type for r in records],
        [Jsonb(r.payload) for r in records],
        [r.accepted_at for r in records],
        [r.trace_id for r in records],
        [a.offset for a in accepted],
        [a.partition for a in accepted],
        [a.idempotency_key for a in accepted],
        [a.body_hash for a in accepted],
    )


def writes(requests: list[RequestRow], queues: list[Queue]) -> list[Statement]:
    """The statements that store the new state of these (locked) rows and queues."""
    out = [(_WRITE_REQUESTS, _columns(requests))] if requests else []
    return [*out, *queue_rows.writes(queues)]


def write(conn: Conn, requests: list[RequestRow], queues: list[Queue]) -> None:
    """`writes`, one statement after another. Never in pipeline mode: psycopg ends a pipeline with a Flush
    after its Sync, and PostgreSQL arms `idle_in_transaction_session_timeout` only when it has answered a
    Sync and waits for the next one. A worker frozen after a pipeline (SIGSTOP, a VM stall) would hold its
    users' locks until its connection dies, and stall every other worker of those users."""
    for statement, params in writes(requests, queues):
        conn.execute(statement, params)


def release(conn: Conn, request_ids: list[UUID], sources: list[str]) -> None:
    """Runs their worker gave up (a rebalance, a stop past its grace), driven by its partitions `sources`:
    no crash. They stay `processing`, driven by no partition, and whoever meets them next runs them as
    usual, not alone as a crash's suspects (`stream_worker.suspects`). A row another transaction holds
    is skipped, never waited for (this runs without the users' queue locks, in a rebalance callback):
    that run stays a suspect."""
    conn.execute(
        """with mine as (select request_id from requests
                          where request_id = any(%s) and status = 'processing' and claimed_from = any(%s)
                          order by request_id for update skip locked)
           update requests r set claimed_from = null from mine where r.request_id = mine.request_id""",
        (request_ids, sources),
    )


def count_claim(conn: Conn, request_id: UUID) -> None:
    """One run more of the request's current attempt as a suspect, committed before it starts (the crash
    counter: `stream_worker.suspects`); `conn` in autocommit."""
    conn.execute(
        "update requests set claims = claims + 1 where request_id = %s and status = 'processing'", (request_id,)
    )


_NOW = "select clock_timestamp()"


def now(conn: Conn) -> datetime:
    """PostgreSQL's time: what every time a request's row holds is measured by."""
    row = conn.execute(_NOW).fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


async def now_async(conn: psycopg.AsyncConnection[Any]) -> datetime:
    row = await (await conn.execute(_NOW)).fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


_WRITE_REQUESTS = """
    update requests r
       set status = x.status, attempts = x.attempts, result = x.result, error = x.error,
           started_at = x.started_at, completed_at = x.completed_at, parked = x.parked,
           next_attempt_at = x.next_attempt_at, first_failed_at = x.first_failed_at,
           last_failed_at = x.last_failed_at, processed_seq = x.processed_seq, claimed_from = x.claimed_from,
           attempts_before_redrive = x.attempts_before_redrive, claims = x.claims
      from unnest(%b::uuid[], %b::text[], %b::int[], %b::jsonb[], %b::jsonb[], %b::timestamptz[],
                  %b::timestamptz[], %b::bool[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[],
                  %b::bigint[], %b::text[], %b::int[], %b::int[])
        as x(request_id, status, attempts, result, error, started_at, completed_at, parked, next_attempt_at,
             first_failed_at, last_failed_at, processed_seq, claimed_from, attempts_before_redrive, claims)
     where r.request_id = x.request_id"""


def _columns(rows: list[RequestRow]) -> tuple[list[Any], ...]:
    def json(value: dict[str, Any] | None) -> Jsonb | None:
        return Jsonb(value) if value is not None else None

    return (
        [r.request_id for r in rows],
        [str(r.status) for r in rows],
        [r.attempts for r in rows],
        [json(r.result) for r in rows],
        [json(r.error) for r in rows],
        [r.started_at for r in rows],
        [r.completed_at for r in rows],
        [r.parked for r in rows],
        [r.next_attempt_at for r in rows],
        [r.first_failed_at for r in rows],
        [r.last_failed_at for r in rows],
        [r.processed_seq for r in rows],
        [r.claimed_from for r in rows],
        [r.attempts_before_redrive for r in rows],
        [r.claims for r in rows],
    )
