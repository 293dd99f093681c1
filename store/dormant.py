"""Retries that wait in PostgreSQL: their wake-up is due beyond the horizon, so no worker holds it.

A wake-up due later than WAKEUP_HORIZON_S is not kept in memory (`stream_worker.wakeups`): that would keep
the retry partition's commit point behind it for as long, and enough of them would stop the partition.
Its request's `next_attempt_at` is in PostgreSQL already; `keep` notes that no wake-up of it waits
anywhere, and `take_due` hands a sweep the requests whose time comes within the horizon, to publish a
new wake-up for each (through the outbox, in the same transaction). A duplicate wake-up is harmless: the
request's row decides.
"""

from __future__ import annotations

from typing import Any

import psycopg

from schemas.lifecycle import RequestRow
from store.requests import COLUMNS

Conn = psycopg.Connection[Any]

_KEEP = """insert into dormant_wakeups (request_id, due_at)
           select * from unnest(%b::uuid[], %b::timestamptz[]) order by 1
           on conflict (request_id) do update set due_at = excluded.due_at"""
# Never waits: rows another sweep holds are skipped. The requests are read, not locked (the lock order is
# queues, then requests): a wake-up made from a row that changes meanwhile only makes its worker look.
_TAKE_DUE = f"""with due as (
                    delete from dormant_wakeups where request_id in (
                        select request_id from dormant_wakeups
                         where due_at <= now() + make_interval(secs => %(horizon)s)
                         order by due_at limit %(limit)s for update skip locked)
                    returning request_id)
                select {COLUMNS} from requests
                 where request_id in (select request_id from due) and status = 'retrying'
                 order by next_attempt_at"""


def keep(conn: Conn, rows: list[RequestRow]) -> None:
    """These retrying requests have no wake-up waiting anywhere: a sweep publishes one when they are due."""
    if rows:
        conn.execute(_KEEP, ([r.request_id for r in rows], [r.next_attempt_at for r in rows]))


def take_due(conn: Conn, horizon_s: float, limit: int) -> list[RequestRow]:
    """Up to `limit` kept requests due within `horizon_s`, still retrying, removed from the keeping (their
    new wake-ups go to the outbox in this transaction)."""
    with conn.cursor() as cur:
        rows = cur.execute(_TAKE_DUE, {"horizon": horizon_s, "limit": limit}).fetchall()
    return [RequestRow(*values) for values in rows]
