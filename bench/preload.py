"""A backlog made without the API: records in the API's wire format, and what accepting them leaves in
PostgreSQL, written by the API's own statements.

For backlogs too large to submit over HTTP in reasonable time (a million requests, a million distinct
users). Each record is a `schemas.records.RequestRecord` encoded with `schemas.records.encode`, keyed by
its user and carrying the API's headers, produced in chunks by a producer tuned for throughput. Once a
chunk is acknowledged its rows are written as the API writes them after the broker's ack, in one
transaction a chunk: `store.requests.ensure` (the users' queues and the request rows: status `queued`,
`sequence` = the record's offset, `kafka_partition`) and `store.request_log.record` (the `queued` entry
of the request log, numbered per user). Row for record, the backlog is one the API could have accepted:
a worker started on it drains it, and its checks hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer

from runtime.kafka import producer_config
from runtime.settings import CommonSettings
from schemas import records as wire
from schemas.lifecycle import Event, Status
from schemas.records import RequestRecord
from store import request_log, requests
from store.requests import Accepted

CHUNK = 50_000  # records produced, then their rows written, at a time: memory stays flat at a million
_ACTOR = "api"  # whose acceptance the request log names: the rows are the API's


def preload(
    settings: CommonSettings, user_ids: list[uuid.UUID], count: int, type_: str, payload: dict[str, Any]
) -> int:
    """Produce `count` requests of `type_`, round-robin over `user_ids`, and write their rows; the count."""
    producer = Producer(
        producer_config(settings, "bench-preload", **{"linger.ms": 20, "queue.buffering.max.messages": 2 * CHUNK})
    )
    now = datetime.now(UTC)
    with psycopg.connect(settings.database_url) as conn, ThreadPoolExecutor(1, "bench-preload-rows") as rows:
        written: Future[None] | None = None
        for start in range(0, count, CHUNK):
            records = [
                RequestRecord(
                    request_id=request_id,
                    user_id=user_ids[n % len(user_ids)],
                    type=type_,
                    payload=payload,
                    accepted_at=now,
                    trace_id=request_id.hex,
                )
                for n, request_id in ((n, uuid.uuid4()) for n in range(start, min(count, start + CHUNK)))
            ]
            accepted = _produce(producer, settings.requests_topic, records)
            if written is not None:
                written.result()  # one chunk's rows at a time, in order: the log numbers each user's in order
            written = rows.submit(_write, conn, accepted)
        if written is not None:
            written.result()
    return count


def _write(conn: psycopg.Connection[Any], accepted: list[Accepted]) -> None:
    """The rows of acknowledged records, as the API writes them after the ack: one transaction."""
    with conn.transaction():
        requests.ensure(conn, accepted)
        queued = [Event(r.user_id, r.request_id, Status.QUEUED, 0, r.accepted_at) for r in (a.record for a in accepted)]
        request_log.record(conn, queued, _ACTOR)


def _produce(producer: Producer, topic: str, records: list[RequestRecord]) -> list[Accepted]:
    """Produce `records` in order and wait for every acknowledgement; each with where it landed."""
    placed: list[tuple[int, int] | None] = [None] * len(records)
    failures: list[KafkaError] = []
    for n, record in enumerate(records):
        while True:
            try:
                producer.produce(
                    topic,
                    wire.encode(record),
                    str(record.user_id).encode(),
                    headers=wire.standard_headers(wire.REQUEST_CONTENT_TYPE, record.trace_id),
                    on_delivery=_at(placed, failures, n),
                )
                break
            except BufferError:
                producer.poll(0.05)
        if n % 1_000 == 0:
            producer.poll(0)
    if producer.flush(120) or failures:
        raise RuntimeError(f"preload: {len(failures)} records not delivered: {failures[:1]}")
    accepted = []
    for record, where in zip(records, placed, strict=True):
        assert where is not None  # flush returned with nothing left: every record was acknowledged
        accepted.append(Accepted(record, *where))
    return accepted


def _at(
    placed: list[tuple[int, int] | None], failures: list[KafkaError], n: int
) -> Callable[[KafkaError | None, Message], None]:
    """A delivery callback that records where record `n` landed."""

    def delivered(err: KafkaError | None, message: Message) -> None:
        if err is not None:
            failures.append(err)
        else:
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None  # set on every delivered record
            placed[n] = (partition, offset)

    return delivered


def settle(database_url: str) -> None:
    """Vacuum and analyse what a preload wrote, as autovacuum does to a backlog that has sat a while: the
    planner knows the tables' sizes, and no autovacuum of the new rows runs in the middle of a measurement."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("vacuum (analyze) users, user_queues, requests, request_events, event_counters")
