"""Runs one polled batch against PostgreSQL: every outcome, and every handler's effect, in one transaction.

The caller commits the batch's offsets only after `process` has returned (the transaction committed) and
the outgoing records it returned are delivered. Replaying a batch is harmless: a request that is already
terminal is not run again, only announced again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg
import structlog
from pydantic import ValidationError

from schemas import records as wire
from schemas.lifecycle import Status
from schemas.records import Headers, RequestRecord, ResultEvent
from stream_worker import store
from stream_worker.handlers.registry import Context, Registry, UnknownType, describe
from stream_worker.ordering import Position
from stream_worker.outcomes import DeadLetter, Outcome, Retry, RetryPolicy, Succeeded, decide

log = structlog.get_logger(__name__)

INFRASTRUCTURE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass(frozen=True)
class Inbound:
    """A consumed record: its place, its bytes, and what it parsed to (or why it did not)."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: Headers
    record: RequestRecord | None
    problem: str | None = None


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True)
class Topics:
    results: str
    dead_letters: str


class Processor:
    def __init__(
        self,
        registry: Registry,
        policy: RetryPolicy,
        topics: Topics,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._registry = registry
        self._policy = policy
        self._topics = topics
        self._sleep = sleep

    def process(self, conn: store.Conn, batch: list[Inbound]) -> list[Outgoing]:
        """Record the outcome of every record in `batch`, in order; return what to publish."""
        requests = [item.record for item in batch if item.record is not None]
        outgoing: list[Outgoing] = []
        with conn.transaction():
            if requests:
                store.wait_for_acceptance(conn, requests)
            rows = store.lock_requests(conn, [r.request_id for r in requests])
            for item in batch:
                if item.record is None:
                    outgoing.append(self._unreadable(item))
                    continue
                row = rows.get(item.record.request_id)
                if row is None:
                    log.warning(
                        "record was never accepted; not run",
                        request_id=str(item.record.request_id),
                        user_id=str(item.record.user_id),
                        partition=item.position.partition,
                        offset=item.position.offset,
                    )
                    continue
                if row.status.terminal:
                    log.info(
                        "already terminal; announcing again",
                        request_id=str(row.request_id),
                        partition=item.position.partition,
                        offset=item.position.offset,
                    )
                else:
                    row = rows[row.request_id] = self._run(conn, item.record, row)
                outgoing.extend(self._announce(row, item))
        return outgoing

    def _run(self, conn: store.Conn, record: RequestRecord, row: store.RequestRow) -> store.RequestRow:
        started_at = store.now(conn)
        attempt = row.attempts
        with structlog.contextvars.bound_contextvars(
            request_id=str(record.request_id), user_id=str(record.user_id), trace_id=record.trace_id
        ):
            while True:
                attempt += 1
                outcome = self._attempt(conn, record, attempt)
                if not isinstance(outcome, Retry):
                    break
                # Until requests are parked on the retry topic, a transient failure is retried in place.
                log.info("attempt failed, retrying", attempt=attempt, delay=outcome.delay, error=outcome.error)
                self._sleep(outcome.delay)
            if isinstance(outcome, Succeeded):
                return store.finish(conn, row.request_id, Status.SUCCEEDED, attempt, started_at, outcome.result, None)
            log.warning("request dead-lettered", attempt=attempt, cause=outcome.cause, error=outcome.error)
            return store.finish(
                conn,
                row.request_id,
                Status.DEAD_LETTERED,
                attempt,
                started_at,
                None,
                {**outcome.error, "cause": outcome.cause},
            )

    def _attempt(self, conn: store.Conn, record: RequestRecord, attempt: int) -> Outcome:
        """Run the handler once, in a savepoint so that a failed attempt leaves no effect behind."""
        try:
            request_type = self._registry.get(record.type)
            payload = request_type.parse(record.payload)
        except UnknownType:
            return DeadLetter("invalid", {"kind": "invalid", "message": f"unknown type {record.type!r}"})
        except ValidationError as exc:
            return DeadLetter("invalid", {"kind": "invalid", "message": f"invalid payload: {describe(exc)}"})
        context = Context(record.request_id, record.user_id, attempt, conn)
        try:
            with conn.transaction():
                result = request_type.run(context, payload)
                if not isinstance(result, dict):
                    raise TypeError(f"a handler must return a JSON object, not {type(result).__name__}")
                orjson.dumps(result)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # a handler's failure, whatever it is, is an outcome
            return decide(exc, attempt, self._policy)
        return Succeeded(result)

    def _announce(self, row: store.RequestRow, item: Inbound) -> list[Outgoing]:
        """The result event of a terminal request, and its dead letter when it has one."""
        assert row.processed_seq is not None
        assert row.completed_at is not None
        key = str(row.user_id).encode()
        event = ResultEvent(
            event_id=ResultEvent.make_event_id(row.request_id, row.status),
            request_id=row.request_id,
            user_id=row.user_id,
            type=row.type,
            status=row.status,
            result=row.result,
            error=row.error,
            attempts=row.attempts,
            sequence=row.sequence,
            processed_seq=row.processed_seq,
            completed_at=row.completed_at,
            trace_id=row.trace_id,
        )
        out = [
            Outgoing(
                self._topics.results,
                key,
                wire.encode(event),
                [
                    (wire.CONTENT_TYPE_HEADER, wire.RESULT_CONTENT_TYPE.encode()),
                    (wire.TRACE_HEADER, row.trace_id.encode()),
                ],
            )
        ]
        if row.status is Status.DEAD_LETTERED:
            error = row.error or {}
            out.append(
                self._dead_letter(
                    item,
                    str(error.get("cause", "permanent")),
                    str(error.get("message", "")),
                    row.attempts,
                    row.completed_at,
                )
            )
        return out

    def _unreadable(self, item: Inbound) -> Outgoing:
        log.warning(
            "unreadable record dead-lettered",
            partition=item.position.partition,
            offset=item.position.offset,
            problem=item.problem,
        )
        return self._dead_letter(item, "unprocessable", item.problem or "", 0, None)

    def _dead_letter(
        self, item: Inbound, cause: str, error: str, attempts: int, failed_at: datetime | None
    ) -> Outgoing:
        when = (failed_at.isoformat() if failed_at else "").encode()
        headers: Headers = [
            *item.headers,
            (wire.DLQ_CAUSE, cause.encode()),
            (wire.DLQ_ERROR, error.encode()[:1000]),
            (wire.DLQ_ATTEMPTS, str(attempts).encode()),
            (wire.DLQ_FIRST_FAILED_AT, when),
            (wire.DLQ_LAST_FAILED_AT, when),
            (wire.DLQ_ORIGIN_TOPIC, item.position.topic.encode()),
            (wire.DLQ_ORIGIN_PARTITION, str(item.position.partition).encode()),
            (wire.DLQ_ORIGIN_OFFSET, str(item.position.offset).encode()),
        ]
        return Outgoing(self._topics.dead_letters, item.key, item.value, headers)


def read(position: Position, key: bytes | None, value: bytes | None, headers: Headers | None) -> Inbound:
    """Parse a consumed record; an unreadable one comes back with `problem` set, never raised."""
    try:
        record = wire.decode(RequestRecord, value)
    except wire.UnprocessableRecord as exc:
        return Inbound(position, key, value, list(headers or []), None, str(exc))
    if key is not None and key != str(record.user_id).encode():
        return Inbound(position, key, value, list(headers or []), None, "the key is not the record's user_id")
    return Inbound(position, key, value, list(headers or []), record)
