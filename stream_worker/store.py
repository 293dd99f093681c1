"""The worker's PostgreSQL statements. Every function runs inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.lifecycle import Status
from schemas.records import RequestRecord

Conn = psycopg.Connection[Any]


@dataclass
class RequestRow:
    request_id: UUID
    user_id: UUID
    type: str
    status: Status
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    sequence: int | None
    processed_seq: int | None
    completed_at: datetime | None
    trace_id: str

    def __post_init__(self) -> None:
        self.status = Status(self.status)


_COLUMNS = """request_id, user_id, type, status, attempts, result, error, sequence, processed_seq,
              completed_at, trace_id"""


def wait_for_acceptance(conn: Conn, records: list[RequestRecord]) -> None:
    """Wait until the API's accepting transaction of every record has ended, committed or not.

    The API inserts a request's row, produces the record and commits only after the broker's ack. An
    insert of the same key blocks until that transaction ends: if it committed, ours does nothing; if it
    rolled back (the client got an error), ours succeeds and is undone at once, so the request stays
    unknown and `lock_requests` reports it missing: it was never accepted and is not run.
    """
    inserted = conn.execute(
        """insert into requests (request_id, user_id, type, payload, status, accepted_at, trace_id)
           select r.id, r.user_id, '', '{}', 'queued', now(), ''
             from unnest(%s::uuid[], %s::uuid[]) as r(id, user_id)
            where exists (select 1 from users u where u.user_id = r.user_id)
           on conflict (request_id) do nothing
           returning request_id""",
        ([r.request_id for r in records], [r.user_id for r in records]),
    ).fetchall()
    if inserted:
        conn.execute("delete from requests where request_id = any(%s)", ([row[0] for row in inserted],))


def lock_requests(conn: Conn, request_ids: list[UUID]) -> dict[UUID, RequestRow]:
    """The rows of these requests, locked for this transaction; unknown ids are absent."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        rows = cur.execute(
            f"select {_COLUMNS} from requests where request_id = any(%s) order by request_id for update",
            (request_ids,),
        ).fetchall()
    return {row.request_id: row for row in rows}


def finish(
    conn: Conn,
    request_id: UUID,
    status: Status,
    attempts: int,
    started_at: datetime | None,
    result: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> RequestRow:
    """Make a request terminal and give it the user's next `processed_seq`."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        row = cur.execute(
            f"""with counter as (
                    update users set processed_count = processed_count + 1
                     where user_id = (select user_id from requests where request_id = %(id)s)
                    returning processed_count)
                update requests
                   set status = %(status)s, attempts = %(attempts)s, result = %(result)s,
                       error = %(error)s, started_at = coalesce(started_at, %(started_at)s),
                       completed_at = clock_timestamp(),
                       processed_seq = (select processed_count from counter)
                 where request_id = %(id)s
                returning {_COLUMNS}""",
            {
                "id": request_id,
                "status": status,
                "attempts": attempts,
                "result": Jsonb(result) if result is not None else None,
                "error": Jsonb(error) if error is not None else None,
                "started_at": started_at,
            },
        ).fetchone()
    assert row is not None
    return row


def now(conn: Conn) -> datetime:
    row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value
