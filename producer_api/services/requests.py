"""Accepting requests into Kafka, and reading them back.

Kafka is where a request is accepted: the records are produced first and the client gets 202 once the
broker acknowledged them (`acks=all`, idempotent producer). Nothing is held while the broker is awaited.
Then one short transaction writes their rows with their place in the partition (`sequence`), so a
request the client was told about is readable at once from any API process. A worker that meets a
record before its row (the API died or PostgreSQL failed right after the ack) writes the row itself
from the record (`store.requests.ensure`): either way the request runs once. Concurrent submissions
share such a transaction (group commit, `producer_api.services.groups`).

PostgreSQL away stops no acceptance (`UnwrittenRows`): the rows this process could not write wait in
its memory, where its own reads find them, and are written as soon as PostgreSQL answers again (or by
the worker, whichever comes first); meanwhile new acceptances do not try PostgreSQL at all.

`Idempotency-Key`: the request id is derived from the user and the key, so every submission under one
key is the same request: duplicates, concurrent or not, at any API process, produce records of the same
request id, and the worker runs a request id once. A repeat that finds the key's row answers from it
without producing; one whose body differs from the row's gets 422.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import structlog
from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from producer_api import errors, metrics
from producer_api.models import NewRequest, RequestPage, RequestView, columns_of, page_of
from producer_api.producer import AsyncProducer, NotDelivered
from producer_api.services.groups import Full, GroupCommit
from request_types.registry import InvalidPayload, Registry, UnknownType
from schemas import payload
from schemas import records as wire
from schemas.lifecycle import Event, Status
from schemas.records import RequestRecord
from store import request_log as events
from store import requests
from store.requests import Accepted

log = structlog.get_logger(__name__)

_GROUP_MAX_RECORDS = 256  # records accepted in one transaction at most
_GROUPS_IN_FLIGHT = 4  # transactions accepting groups at once, per API process
_GROUP_MAX_WAITING = 1024  # records waiting for a group at most; more get 503 at once
_UNWRITTEN_MAX = 100_000  # rows kept for PostgreSQL's return at most; the worker writes the older ones
_UNWRITTEN_CHUNK = 1000  # rows written per transaction when PostgreSQL is back
_RETRY_S = 1.0  # between attempts to write them

_VIEW = columns_of(RequestView)
_KEYED = uuid.UUID("6f1d2c57-6d3e-4d7b-9a0c-5b3f7e2a9c41")  # the namespace of idempotent request ids


@dataclass(frozen=True)
class PayloadLimits:
    """How large a request's payload may be (as JSON)."""

    max_payload_bytes: int


class RequestService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        producer: AsyncProducer,
        registry: Registry,
        topic: str,
        limits: PayloadLimits,
        kill_after_acks: int = 0,
        stop_in_rows_tx: int = 0,
    ) -> None:
        self._pool = pool
        self._kill_after_acks = kill_after_acks  # FAULT_KILL_AFTER_ACKS: tests only
        self._stop_in_rows_tx = stop_in_rows_tx  # FAULT_STOP_IN_ROWS_TX: tests only
        self._acks = 0
        self._producer = producer
        self._registry = registry
        self._topic = topic
        self._limits = limits
        self._unwritten = UnwrittenRows(pool)
        # submissions without an Idempotency-Key are accepted in groups (group commit): while one group's
        # broker acknowledgement and rows are awaited, the next forms
        self._groups: GroupCommit[RequestRecord, RequestView] = GroupCommit(
            self._accept, max_items=_GROUP_MAX_RECORDS, in_flight=_GROUPS_IN_FLIGHT, max_waiting=_GROUP_MAX_WAITING
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
                request_id=uuid.uuid4() if idempotency_key is None else request_id_for(user_id, idempotency_key),
                user_id=user_id,
                type=r.type,
                payload=r.payload,
                accepted_at=now,
                trace_id=trace_id,
            )
            for r in requests
        ]
        if idempotency_key is None:
            try:
                return await self._groups.run(records)
            except Full:
                raise errors.Unavailable("too many submissions wait for the broker; not accepted") from None
        return await self._accept(records, idempotency_key, _body_hash(requests))

    async def _accept(
        self, records: list[RequestRecord], key: str | None = None, body_hash: bytes | None = None
    ) -> list[RequestView]:
        """Produce the records and wait for the broker's ack, then write their rows in one short
        transaction. `records` may be several users' (a group)."""
        if key is not None:
            earlier = self._unwritten.view(records[0].user_id, records[0].request_id)
            if earlier is None and not self._unwritten:  # with PostgreSQL away, the API cannot tell
                earlier = await self._keyed(records[0], key, body_hash)
            if earlier is not None:
                return [earlier]
        deliveries = await self._produce(records)
        self._after_ack(len(records))
        for record, delivery in zip(records, deliveries, strict=True):
            log.info(
                "accepted",
                request_id=str(record.request_id),
                type=record.type,
                topic=self._topic,
                partition=delivery.partition,
                offset=delivery.offset,
            )
        accepted = [
            Accepted(record, delivery.partition, delivery.offset, key, body_hash)
            for record, delivery in zip(records, deliveries, strict=True)
        ]
        if self._unwritten:  # PostgreSQL is away: these wait behind the others
            return self._unwritten.add(accepted)
        try:
            async with self._pool.connection() as conn, conn.transaction():
                inserted = await _write_rows(conn, accepted)
                self._in_rows_tx()
                # a row that was there already (a key's earlier request, or the worker's) is read back
                there = await _views(conn, [r.request_id for r in records if r.request_id not in inserted])
        except psycopg.Error as exc:  # accepted all the same: written when PostgreSQL is back
            log.warning("accepted; rows written when PostgreSQL is back", error=str(exc), requests=len(records))
            return self._unwritten.add(accepted)
        before = there.get(records[0].request_id) if key is not None else None
        if before is not None and before.pop("body_hash") not in (body_hash, None):
            raise errors.IdempotencyKeyReused()
        return [
            RequestView.model_validate(there[a.record.request_id]) if a.record.request_id in there else _view_of(a)
            for a in accepted
        ]

    def _after_ack(self, count: int) -> None:
        """Fault injection for the tests (off unless FAULT_KILL_AFTER_ACKS is set): die right here, after
        the broker acknowledged, before the rows are written and before the client hears anything."""
        self._acks += count
        if self._kill_after_acks and self._acks >= self._kill_after_acks:
            log.warning("fault injection: SIGKILL between the broker's ack and the rows")
            os.kill(os.getpid(), signal.SIGKILL)

    def _in_rows_tx(self) -> None:
        """Fault injection for the tests (off unless FAULT_STOP_IN_ROWS_TX is set): freeze once, right after
        the insert, inside the rows' transaction, as a stalled process (SIGSTOP, a VM pause) would."""
        if self._stop_in_rows_tx and self._acks >= self._stop_in_rows_tx:
            self._stop_in_rows_tx = 0
            log.warning("fault injection: SIGSTOP inside the rows' transaction")
            os.kill(os.getpid(), signal.SIGSTOP)

    async def _keyed(self, record: RequestRecord, key: str, body_hash: bytes | None) -> RequestView | None:
        """The request that `key` already stands for, if its row is written (same body only)."""
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""select {_VIEW}, body_hash from requests
                     where request_id = %s or (user_id = %s and idempotency_key = %s)""",
                (record.request_id, record.user_id, key),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        if row.pop("body_hash") not in (body_hash, None):
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
        unwritten = self._unwritten.view(user_id, request_id)
        if unwritten is not None:
            return unwritten
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
            rows, cursor = page_of(await cur.fetchall(), limit, lambda row: str(row.sequence))
        return RequestPage(requests=rows, next_cursor=cursor)


class UnwrittenRows:
    """Rows of accepted requests that PostgreSQL did not take (it was away), oldest first, until one
    task writes them, a chunk per transaction, once it answers again. At most `_UNWRITTEN_MAX` are kept:
    the oldest beyond that are left to the worker, which writes a missing row when it meets the record."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._rows: dict[uuid.UUID, Accepted] = {}  # in acceptance order
        self._writer: asyncio.Task[None] | None = None

    def __bool__(self) -> bool:
        return bool(self._rows)

    def add(self, accepted: list[Accepted]) -> list[RequestView]:
        for a in accepted:
            self._rows[a.record.request_id] = a
        while len(self._rows) > _UNWRITTEN_MAX:
            del self._rows[next(iter(self._rows))]
        metrics.UNWRITTEN_ROWS.set(len(self._rows))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())
        return [_view_of(a) for a in accepted]

    def view(self, user_id: uuid.UUID, request_id: uuid.UUID) -> RequestView | None:
        a = self._rows.get(request_id)
        return None if a is None or a.record.user_id != user_id else _view_of(a)

    async def _write(self) -> None:
        try:
            while self._rows:
                chunk = list(itertools.islice(self._rows.values(), _UNWRITTEN_CHUNK))
                try:
                    async with self._pool.connection() as conn, conn.transaction():
                        await _write_rows(conn, chunk)
                except psycopg.Error as exc:
                    log.info("rows still unwritten; PostgreSQL away", error=str(exc), rows=len(self._rows))
                    await asyncio.sleep(_RETRY_S)
                    continue
                for a in chunk:
                    self._rows.pop(a.record.request_id, None)
                metrics.UNWRITTEN_ROWS.set(len(self._rows))
                log.info("unwritten rows written", rows=len(chunk), left=len(self._rows))
        finally:
            self._writer = None


async def _write_rows(conn: AsyncConnection[Any], accepted: list[Accepted]) -> set[uuid.UUID]:
    """The rows of accepted requests, and a `queued` log entry for each that was not there yet (the
    ids returned)."""
    inserted = await requests.ensure_async(conn, accepted)
    logged = [
        Event(r.user_id, r.request_id, Status.QUEUED, 0, r.accepted_at)
        for r in (a.record for a in accepted)
        if r.request_id in inserted
    ]
    await conn.execute(events.RECORD_EVENTS, events.params(logged, "api"))  # last: see store.request_log
    return inserted


async def _views(conn: AsyncConnection[Any], ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"select {_VIEW}, body_hash from requests where request_id = any(%s)", (ids,))
        return {row["request_id"]: row for row in await cur.fetchall()}


def _view_of(accepted: Accepted) -> RequestView:
    """An accepted request as its new row has it: queued, at its offset."""
    r = accepted.record
    return RequestView(
        request_id=r.request_id,
        user_id=r.user_id,
        type=r.type,
        payload=r.payload,
        status=Status.QUEUED,
        attempts=0,
        result=None,
        error=None,
        accepted_at=r.accepted_at,
        started_at=None,
        completed_at=None,
        sequence=accepted.offset,
        processed_seq=None,
    )


def request_id_for(user_id: uuid.UUID, key: str) -> uuid.UUID:
    """The one request an `Idempotency-Key` of a user stands for."""
    return uuid.uuid5(_KEYED, f"{user_id}:{key}")


def _body_hash(requests: list[NewRequest]) -> bytes:
    body = orjson.dumps([r.model_dump() for r in requests], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).digest()
