"""The worker's PostgreSQL statements. Every function runs inside the caller's transaction.

Lock order, everywhere (worker and operator actions alike): partition epochs (shared), then user queues
by user_id, then requests. Keeping one order means two workers never wait on each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.lifecycle import Status
from schemas.records import RequestRecord
from stream_worker.ordering import TopicPartitionKey
from userq import events

Conn = psycopg.Connection[Any]
HoldReason = Literal["retrying", "halted"]


@dataclass
class RequestRow:
    request_id: UUID
    user_id: UUID
    type: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    accepted_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    sequence: int | None
    kafka_partition: int | None
    processed_seq: int | None
    parked: bool
    next_attempt_at: datetime | None
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    attempts_before_redrive: int
    trace_id: str

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    def as_record(self) -> RequestRecord:
        return RequestRecord(
            request_id=self.request_id,
            user_id=self.user_id,
            type=self.type,
            payload=self.payload,
            accepted_at=self.accepted_at,
            trace_id=self.trace_id,
        )


@dataclass
class Queue:
    user_id: UUID
    held_by: UUID | None
    hold_reason: HoldReason | None
    paused: bool = False

    @property
    def blocked(self) -> bool:
        """Nothing of the user's may start: a request holds the rest back, or the queue is paused."""
        return self.held_by is not None or self.paused


_COLUMNS = """request_id, user_id, type, payload, status, attempts, result, error, accepted_at, started_at,
              completed_at, sequence, kafka_partition, processed_seq, parked, next_attempt_at, first_failed_at,
              last_failed_at, attempts_before_redrive, trace_id"""


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
             from unnest(%s::uuid[], %s::uuid[]) as r(id, user_id)
            where exists (select 1 from users u where u.user_id = r.user_id)
           on conflict (request_id) do nothing
           returning request_id""",
        ([r.request_id for r in records], [r.user_id for r in records]),
    ).fetchall()
    if inserted:
        conn.execute("delete from requests where request_id = any(%s)", ([row[0] for row in inserted],))


def lock_queues(conn: Conn, user_ids: list[UUID]) -> dict[UUID, Queue]:
    """The queues of these users (created on first use), locked for this transaction."""
    ids = sorted(set(user_ids))
    conn.execute(
        """insert into user_queues (user_id)
           select u.user_id from users u where u.user_id = any(%s)
           on conflict (user_id) do nothing""",
        (ids,),
    )
    with conn.cursor(row_factory=class_row(Queue)) as cur:
        rows = cur.execute(
            """select user_id, held_by, hold_reason, paused_at is not null as paused from user_queues
                where user_id = any(%s) order by user_id for update""",
            (ids,),
        ).fetchall()
    return {row.user_id: row for row in rows}


def lock_requests(conn: Conn, request_ids: list[UUID]) -> dict[UUID, RequestRow]:
    """The rows of these requests, locked for this transaction; unknown ids are absent."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        rows = cur.execute(
            f"select {_COLUMNS} from requests where request_id = any(%s) order by request_id for update",
            (request_ids,),
        ).fetchall()
    return {row.request_id: row for row in rows}


def has_parked(conn: Conn, user_id: UUID) -> bool:
    row = conn.execute("select exists (select 1 from requests where user_id = %s and parked)", (user_id,)).fetchone()
    return bool(row and row[0])


def next_parked(conn: Conn, user_id: UUID) -> RequestRow | None:
    """The user's earliest parked request, locked."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        return cur.execute(
            f"""select {_COLUMNS} from requests where user_id = %s and parked
                 order by sequence limit 1 for update""",
            (user_id,),
        ).fetchone()


def park(conn: Conn, request_id: UUID) -> None:
    conn.execute("update requests set parked = true where request_id = %s", (request_id,))


def hold(conn: Conn, user_id: UUID, request_id: UUID, reason: HoldReason) -> None:
    conn.execute(
        "update user_queues set held_by = %s, hold_reason = %s where user_id = %s", (request_id, reason, user_id)
    )


def release(conn: Conn, user_id: UUID, request_id: UUID) -> bool:
    """Lift the user's hold if `request_id` is what holds it; True when it did."""
    cur = conn.execute(
        "update user_queues set held_by = null, hold_reason = null where user_id = %s and held_by = %s",
        (user_id, request_id),
    )
    return cur.rowcount == 1


def schedule_retry(
    conn: Conn, request_id: UUID, attempts: int, started_at: datetime, delay_s: float, error: dict[str, Any]
) -> RequestRow:
    """The attempt failed transiently: `retrying` until `next_attempt_at`."""
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        row = cur.execute(
            f"""update requests
                   set status = 'retrying', attempts = %s, error = %s, parked = false,
                       started_at = coalesce(started_at, %s),
                       next_attempt_at = clock_timestamp() + make_interval(secs => %s),
                       first_failed_at = coalesce(first_failed_at, clock_timestamp()),
                       last_failed_at = clock_timestamp()
                 where request_id = %s
             returning {_COLUMNS}""",
            (attempts, Jsonb(error), started_at, delay_s, request_id),
        ).fetchone()
    assert row is not None
    return row


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
    failed = status is Status.DEAD_LETTERED
    with conn.cursor(row_factory=class_row(RequestRow)) as cur:
        row = cur.execute(
            f"""with counter as (
                    update users set processed_count = processed_count + 1
                     where user_id = (select user_id from requests where request_id = %(id)s)
                    returning processed_count)
                update requests
                   set status = %(status)s, attempts = %(attempts)s, result = %(result)s,
                       error = %(error)s, started_at = coalesce(started_at, %(started_at)s),
                       completed_at = clock_timestamp(), parked = false, next_attempt_at = null,
                       first_failed_at = case when %(failed)s
                                         then coalesce(first_failed_at, clock_timestamp())
                                         else first_failed_at end,
                       last_failed_at = case when %(failed)s then clock_timestamp() else last_failed_at end,
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
                "failed": failed,
            },
        ).fetchone()
    assert row is not None
    return row


def record_events(conn: Conn, recorded: list[events.Event], actor: str) -> None:
    """Number and store the transaction's state changes; must be its last statement (see `userq.events`)."""
    if recorded:
        conn.execute(events.RECORD_EVENTS, events.params(recorded, actor))


def now(conn: Conn) -> datetime:
    row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value
