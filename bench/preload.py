"""A backlog made without the API: records in the API's wire format, and their accepted rows.

For runs too large to submit over HTTP in reasonable time (a million distinct users). Each record is a
`schemas.records.RequestRecord` encoded with `schemas.records.encode`, keyed by its user and carrying
the API's headers; each row is what the API's accepting transaction leaves behind (status `queued`,
`sequence` = the record's offset, `kafka_partition`), copied in with COPY. A record without its row would
be skipped by the worker as never accepted, so the rows go in before any worker starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer
from psycopg.types.json import Jsonb

from runtime.kafka import producer_config
from runtime.settings import CommonSettings
from schemas import records as wire
from schemas.records import RequestRecord


def preload(
    settings: CommonSettings, user_ids: list[uuid.UUID], count: int, type_: str, payload: dict[str, Any]
) -> int:
    """Produce `count` requests of `type_`, round-robin over `user_ids`, and insert their rows; the count."""
    producer = Producer(
        producer_config(settings, "bench-preload", **{"linger.ms": 20, "queue.buffering.max.messages": 1_000_000})
    )
    placed: dict[uuid.UUID, tuple[int, int]] = {}
    failures: list[KafkaError] = []
    now = datetime.now(UTC)
    records = []
    headers = wire.standard_headers(wire.REQUEST_CONTENT_TYPE, "bench-preload")

    for n in range(count):
        record = RequestRecord(
            request_id=uuid.uuid4(),
            user_id=user_ids[n % len(user_ids)],
            type=type_,
            payload=payload,
            accepted_at=now,
            trace_id=f"bench{n:027d}",
        )
        records.append(record)
        value = wire.encode(record)
        while True:
            try:
                producer.produce(
                    settings.requests_topic,
                    value,
                    str(record.user_id).encode(),
                    headers=headers,
                    on_delivery=_by_request(placed, failures, record.request_id),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) or failures:
        raise RuntimeError(f"preload: {len(failures)} records not delivered: {failures[:1]}")
    with (
        psycopg.connect(settings.database_url) as conn,
        conn.cursor() as cur,
        cur.copy(
            """copy requests (request_id, user_id, type, payload, status, accepted_at, trace_id, sequence,
                              kafka_partition) from stdin"""
        ) as copy,
    ):
        for record in records:
            partition, offset = placed[record.request_id]
            copy.write_row(
                (
                    record.request_id,
                    record.user_id,
                    record.type,
                    Jsonb(record.payload),
                    "queued",
                    record.accepted_at,
                    record.trace_id,
                    offset,
                    partition,
                )
            )
    return count


def _by_request(
    placed: dict[uuid.UUID, tuple[int, int]], failures: list[KafkaError], request_id: uuid.UUID
) -> Callable[[KafkaError | None, Message], None]:
    """A delivery callback that records where `request_id`'s record landed."""

    def delivered(err: KafkaError | None, message: Message) -> None:
        if err is not None:
            failures.append(err)
        else:
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None  # set on every delivered record
            placed[request_id] = (partition, offset)

    return delivered
