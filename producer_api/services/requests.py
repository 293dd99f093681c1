"""Accepting requests into Kafka, and reading them back.

Acceptance is one PostgreSQL transaction around the Kafka write: insert the rows, produce the records
and wait for the broker's acknowledgement, set each row's `sequence` to its record's offset, commit.
Only then does the client get 202, so a request it was told about is both in Kafka and readable. When
the produce fails the transaction rolls back: a record that reached Kafka anyway finds no row, and the
worker skips it (see `stream_worker.store.wait_for_acceptance`). Concurrent submissions share such a
transaction (group commit, `producer_api.services.groups`): under load one transaction accepts many
requests, each still all-or-none with the others of its group. Concurrent duplicates of one
`Idempotency-Key` are not grouped: they wait on the unique index for the first one's transaction and
then return its row.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from producer_api import errors
from producer_api.models import NewRequest, RequestPage, RequestView, columns_of
from producer_api.producer import AsyncProducer, NotDelivered
from producer_api.services.groups import GroupCommit
from request_types.registry import InvalidPayload, Registry, UnknownType
from schemas import payload
from schemas import records as wire
from schemas.lifecycle import Event, Status
from schemas.records import RequestRecord
from store import request_log as events

log = structlog.get_logger(__name__)

_GROUP_MAX_RECORDS = 256  # records accepted in one transaction at most
_GROUPS_IN_FLIGHT = 4  # transactions accepting groups at once, per API process

_VIEW = columns_of(RequestView)


@dataclass(frozen=True)
class PayloadLimits:
    """How large a request's payload may be (as JSON)."""

    max_payload_bytes: int


class RequestService:
    def __init__(
        self, pool: AsyncConnectionPool, producer: AsyncProducer, registry: Registry, topic: str, limits: PayloadLimits
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._registry = registry
        self._topic = topic
        self._limits = limits
        # submissions without an Idempotency-Key are accepted in groups (group commit): while one group's
        # transaction waits for PostgreSQL and the broker, the next forms
        self._groups: GroupCommit[RequestRecord, RequestView] = GroupCommit(
            self._accept, max_items=_GROUP_MAX_RECORDS, in_flight=_GROUPS_IN_FLIGHT
        )

    def check(self, request: NewRequest) -> None:
        """Refuse what the worker could only dead-letter: unknown types, bad or oversized payloads."""
        problem = payload.problem(request.payload)
        if problem is not None:
            raise errors.InvalidPayload(f"the payload cannot be stored: {problem}")
        size = len(orjson.dumps(request.payload))
        if size > self._limits.max_payload_bytes:
            raise errors.PayloadTooLarge(f"payload is {size} bytes; at most {self._limits.max_payload_bytes}")
        try:
            self._registry.validate(request.type, request.payload)
        except UnknownType:
            raise errors.UnknownType(request.type, self._registry.names()) from None
        except InvalidPayload as exc:
            raise errors.InvalidPayload(f"invalid payload for {request.type}: {exc}") from None

    async def submit(
        self, user_id: uuid.UUID, requests: list[NewRequest], trace_id: str, idempotency_key: str | None = None
    ) -> list[RequestView]:
        """Accept `requests` in this order, all or none; return their views once they are durable."""
        for request in requests:
            self.check(request)
        now = datetime.now(UTC)
        records = [
            RequestRecord(
                request_id=uuid.uuid4(),
                user_id=user_id,
                type=r.type,
                payload=r.payload,
                accepted_at=now,
                trace_id=trace_id,
            )
            for r in requests
        ]
        if idempotency_key is None:
            return await self._groups.run(records)
        return await self._accept(records, idempotency_key, _body_hash(requests))

    async def _accept(
        self, records: list[RequestRecord], key: str | None = None, body_hash: bytes | None = None
    ) -> list[RequestView]:
        """One transaction: insert the rows, produce the records and wait for the broker's ack, give each
        row its place (and its user a queue), log them. `records` may be several users' (a group)."""
        async with self._pool.connection() as conn, conn.transaction():
            if key is not None:
                earlier = await self._claim_key(conn, records[0], key, body_hash)
                if earlier is not None:
                    return [earlier]
            else:
                await _insert(conn, records, None, None)
            deliveries = await self._produce(records)
            async with conn.cursor(row_factory=class_row(RequestView)) as cur:
                # a user's queue is created by their first request, once the broker has it: an insert
                # earlier in the transaction would make the user's concurrent submissions wait for this one
                await cur.execute(
                    f"""with queues as (
                            insert into user_queues (user_id)
                            select distinct u from unnest(%s::uuid[]) as u order by 1 on conflict do nothing)
                        update requests r set sequence = d.offset_, kafka_partition = d.partition_
                          from unnest(%s::uuid[], %s::bigint[], %s::int[]) as d(id, offset_, partition_)
                         where r.request_id = d.id
                     returning {_VIEW.replace("request_id", "r.request_id")}""",
                    (
                        [r.user_id for r in records],
                        [r.request_id for r in records],
                        [d.offset for d in deliveries],
                        [d.partition for d in deliveries],
                    ),
                )
                views = {v.request_id: v for v in await cur.fetchall()}
            accepted = [Event(r.user_id, r.request_id, Status.QUEUED, 0, r.accepted_at) for r in records]
            await conn.execute(events.RECORD_EVENTS, events.params(accepted, "api"))  # last: see store.request_log
        for record, delivery in zip(records, deliveries, strict=True):
            log.info(
                "accepted",
                request_id=str(record.request_id),
                type=record.type,
                topic=self._topic,
                partition=delivery.partition,
                offset=delivery.offset,
            )
        return [views[r.request_id] for r in records]

    async def _claim_key(
        self, conn: AsyncConnection[Any], record: RequestRecord, key: str, body_hash: bytes | None
    ) -> RequestView | None:
        """Insert the row under `key`, or return the request that already holds it (same body only)."""
        if await _insert(conn, [record], key, body_hash):
            return None
        # The key is taken, and its holder committed: we waited for it on the unique index.
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"select {_VIEW}, body_hash from requests where user_id = %s and idempotency_key = %s",
                (record.user_id, key),
            )
            row = await cur.fetchone()
        assert row is not None
        if row.pop("body_hash") != body_hash:
            raise errors.IdempotencyKeyReused()
        return RequestView.model_validate(row)

    async def _produce(self, records: list[RequestRecord]) -> list[Any]:
        sends = [
            # created in order, so one producer appends each user's records to their partition in order
            asyncio.ensure_future(
                self._producer.send(
                    self._topic,
                    str(r.user_id).encode(),
                    wire.encode(r),
                    wire.standard_headers(wire.REQUEST_CONTENT_TYPE, r.trace_id),
                )
            )
            for r in records
        ]
        try:
            return list(await asyncio.gather(*sends))
        except NotDelivered as exc:
            for send in sends:
                send.cancel()
            log.warning("not accepted: kafka did not acknowledge", error=str(exc))
            raise errors.Unavailable("the queue is unavailable; the request was not accepted") from None

    async def get(self, user_id: uuid.UUID, request_id: uuid.UUID) -> RequestView | None:
        async with self._pool.connection() as conn, conn.cursor(row_factory=class_row(RequestView)) as cur:
            await cur.execute(
                f"select {_VIEW} from requests where request_id = %s and user_id = %s", (request_id, user_id)
            )
            return await cur.fetchone()

    async def page(self, user_id: uuid.UUID, status: Status | None, limit: int, after: int | None) -> RequestPage:
        """The user's requests after sequence `after`, in queue order; `next_cursor` is the last one's sequence."""
        async with self._pool.connection() as conn, conn.cursor(row_factory=class_row(RequestView)) as cur:
            await cur.execute(
                f"""select {_VIEW} from requests
                     where user_id = %s and sequence > %s and (%s::text is null or status = %s)
                     order by sequence limit %s""",
                (user_id, -1 if after is None else after, status, status, limit + 1),
            )
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return RequestPage(requests=rows, next_cursor=str(rows[-1].sequence) if more else None)


async def _insert(
    conn: AsyncConnection[Any], records: list[RequestRecord], key: str | None, body_hash: bytes | None
) -> bool:
    """Insert rows in status `queued`, without a sequence yet; False when `key` is already taken."""
    async with conn.cursor() as cur:
        await cur.execute(
            """insert into requests (request_id, user_id, type, payload, status, accepted_at, trace_id,
                                     idempotency_key, body_hash)
               select r.id, r.user_id, r.type, r.payload, 'queued', r.accepted_at, r.trace_id, %s, %s
                 from unnest(%s::uuid[], %s::uuid[], %s::text[], %s::jsonb[], %s::timestamptz[], %s::text[])
                      with ordinality as r(id, user_id, type, payload, accepted_at, trace_id, n)
                order by r.n
               on conflict (user_id, idempotency_key) do nothing""",
            (
                key,
                body_hash,
                [r.request_id for r in records],
                [r.user_id for r in records],
                [r.type for r in records],
                [Jsonb(r.payload) for r in records],
                [r.accepted_at for r in records],
                [r.trace_id for r in records],
            ),
        )
        return cur.rowcount == len(records)


def _body_hash(requests: list[NewRequest]) -> bytes:
    body = orjson.dumps([r.model_dump() for r in requests], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).digest()
