"""The worker's PostgreSQL statements. Every function runs inside the caller's transaction.

Lock order, everywhere (worker and operator actions alike): partition epochs (shared), then user queues
by user_id, then requests. Keeping one order means two workers never wait on each other in a circle.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.records import RequestRecord
from store import request_log as events
from stream_worker.offsets import TopicPartitionKey
from stream_worker.rows import Queue, RequestRow

Conn = psycopg.Connection[Any]

_COLUMNS = ", ".join(f.name for f in fields(RequestRow))  # in field order: rows are made positionally


class Fenced(Exception):
    """Another worker took one of the batch's partitions over: this worker must write nothing."""


def claim_partitions(conn: Conn, partitions: list[TopicPartitionKey], owner: str) -> dict[TopicPartitionKey, int]:
    """Bump each partition's epoch and make it ours; an older owner's next batch is then refused."""
    rows = conn.execute(
        """insert into partition_owners (topic, partition, epoch, owner)
           select t, p, 1, %s from unnest(%s::text[], %s::int[]) as x(t, p)
           on conflict (topic, partition)
           do update set epoch = partition_owners.epoch + 1, owner = excluded.owner
           returning topic, partition, epoch""",
        (owner, [t for t, _ in partitions], [p for _, p in partitions]),
    ).fetchall()
    return {(topic, partition): epoch for topic, partition, epoch in rows}


def check_epochs(conn: Conn, epochs: dict[TopicPartitionKey, int]) -> None:
    """Raise `Fenced` unless every partition is still at our epoch; hold them so until we commit."""
    keys = sorted(epochs)
    rows = conn.execute(
        """select o.topic, o.partition, o.epoch
             from partition_owners o join unnest(%s::text[], %s::int[]) as x(t, p)
               on o.topic = x.t and o.partition = x.p
            order by o.topic, o.partition
              for share of o""",
        ([t for t, _ in keys], [p for _, p in keys]),
    ).fetchall()
    current = {(topic, partition): epoch for topic, partition, epoch in rows}
    moved = [key for key in keys if current.get(key) != epochs[key]]
    if moved:
        raise Fenced(f"partitions {moved} have a newer owner")


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
             from unnest(%b::uuid[], %b::uuid[]) as r(id, user_id)
            where exists (select 1 from users u where u.user_id = r.user_id)
           on conflict (request_id) do nothing
           returning request_id""",
        ([r.request_id for r in records], [r.user_id for r in records]),
    ).fetchall()
    if inserted:
        conn.execute("delete from requests where request_id = any(%b)", ([row[0] for row in inserted],))


def lock_queues(conn: Conn, user_ids: list[UUID]) -> dict[UUID, Queue]:
    """The queues of these users (created on first use), locked for this transaction."""
    ids = sorted(set(user_ids))
    conn.execute(
        """insert into user_queues (user_id)
           select u.user_id from users u where u.user_id = any(%b)
           on conflict (user_id) do nothing""",
        (ids,),
    )
    locked = conn.execute(
        """select user_id, held_by, hold_reason, paused_at is not null from user_queues
            where user_id = any(%b) order by user_id for update""",
        (ids,),
    ).fetchall()
    # Read only once the locks are held, by a statement of its own: a statement's snapshot is taken before
    # it waits for a lock, and only the rows it locks are read again after the wait. In the locking
    # statement these would be what the transaction we waited for had not yet committed.
    state = conn.execute(
        """select u.user_id, u.processed_count,
                  exists (select 1 from requests r where r.user_id = u.user_id and r.parked)
             from users u where u.user_id = any(%b)""",
        (ids,),
    ).fetchall()
    counts = {user_id: (count, parked) for user_id, count, parked in state}
    return {
        user_id: Queue(user_id, held_by, reason, paused, *counts[user_id])
        for user_id, held_by, reason, paused in locked
    }


def lock_requests(conn: Conn, request_ids: list[UUID]) -> dict[UUID, RequestRow]:
    """The rows of these requests, locked for this transaction; unknown ids are absent."""
    with conn.cursor() as cur:  # tuples, made into rows positionally: cheaper than by name
        rows = [
            RequestRow(*values)
            for values in cur.execute(
                f"select {_COLUMNS} from requests where request_id = any(%b) order by request_id for update",
                (request_ids,),
            ).fetchall()
        ]
    return {row.request_id: row for row in rows}


def parked(conn: Conn, user_id: UUID, limit: int) -> list[RequestRow]:
    """The user's earliest parked requests, in order, locked."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        return cur.execute(
            f"""select {_COLUMNS} from requests where user_id = %s and parked
                 order by sequence limit %s for update""",
            (user_id, limit),
        ).fetchall()


def write(conn: Conn, requests: list[RequestRow], queues: list[Queue]) -> None:
    """Store the new state of these (locked) rows: a few set-based statements, one round trip."""
    with conn.pipeline():
        if requests:
            conn.execute(_WRITE_REQUESTS, _columns(requests))
        if queues:
            conn.execute(
                """update user_queues q set held_by = x.held_by, hold_reason = x.hold_reason
                     from unnest(%b::uuid[], %b::uuid[], %b::text[]) as x(user_id, held_by, hold_reason)
                    where q.user_id = x.user_id""",
                ([q.user_id for q in queues], [q.held_by for q in queues], [q.hold_reason for q in queues]),
            )
            conn.execute(
                """update users u set processed_count = x.processed_count
                     from unnest(%b::uuid[], %b::bigint[]) as x(user_id, processed_count)
                    where u.user_id = x.user_id and u.processed_count <> x.processed_count""",
                ([q.user_id for q in queues], [q.processed_count for q in queues]),
            )


_WRITE_REQUESTS = """
    update requests r
       set status = x.status, attempts = x.attempts, result = x.result, error = x.error,
           started_at = x.started_at, completed_at = x.completed_at, parked = x.parked,
           next_attempt_at = x.next_attempt_at, first_failed_at = x.first_failed_at,
           last_failed_at = x.last_failed_at, processed_seq = x.processed_seq, claimed_from = x.claimed_from
      from unnest(%b::uuid[], %b::text[], %b::int[], %b::jsonb[], %b::jsonb[], %b::timestamptz[],
                  %b::timestamptz[], %b::bool[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[],
                  %b::bigint[], %b::text[])
        as x(request_id, status, attempts, result, error, started_at, completed_at, parked, next_attempt_at,
             first_failed_at, last_failed_at, processed_seq, claimed_from)
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
    )


def record_events(conn: Conn, recorded: list[events.Event], actor: str) -> None:
    """Number and store the transaction's state changes; must be its last statement (see `store.request_log`)."""
    if recorded:
        conn.execute(events.RECORD_EVENTS, events.params(recorded, actor))


def now(conn: Conn) -> datetime:
    row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value
