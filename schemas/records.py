"""Kafka record formats, version 1: requests, retries, dead letters and results.

Values are JSON objects with a `v` field; the `content-type` header names the schema too, so a consumer
can reject a record it does not understand without guessing. A record that does not parse raises
`UnprocessableRecord`, which the worker dead-letters: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.lifecycle import RequestRow, Status

REQUEST_CONTENT_TYPE = "application/vnd.userq.request.v1+json"
RESULT_CONTENT_TYPE = "application/vnd.userq.result.v1+json"
RETRY_CONTENT_TYPE = "application/vnd.userq.retry.v1+json"

Headers = list[tuple[str, str | bytes | None]]


class UnprocessableRecord(ValueError):
    """A record that cannot be read as the schema it claims (or any schema)."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RequestRecord(_Record):
    """One accepted request, as the API writes it to the requests topic (key = user_id)."""

    v: Literal[1] = 1
    request_id: UUID
    user_id: UUID
    type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any]
    accepted_at: datetime
    trace_id: str = Field(min_length=1, max_length=64)


def request_of(row: RequestRow) -> RequestRecord:
    """The record of the request `row` holds: what a wake-up and a dead letter carry."""
    return RequestRecord(
        request_id=row.request_id,
        user_id=row.user_id,
        type=row.type,
        payload=row.payload,
        accepted_at=row.accepted_at,
        trace_id=row.trace_id,
    )


@dataclass(frozen=True)
class Outgoing:
    """A record to publish (through the outbox): its topic, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    user_id: UUID | None  # whose order it belongs to; None for a record that was unreadable


class RetryRecord(_Record):
    """A request waiting for another attempt, on the retry topic (key = user_id)."""

    v: Literal[1] = 1
    request: RequestRecord
    attempt: int = Field(ge=1, description="the attempt that will run next")
    due_at: datetime
    first_failed_at: datetime
    last_error: str

    @staticmethod
    def wakeup(
        request: RequestRecord,
        attempts_made: int,
        due_at: datetime,
        first_failed_at: datetime | None,
        error: dict[str, Any] | None,
    ) -> RetryRecord:
        """The wake-up of a request that has made `attempts_made` attempts, due at `due_at`."""
        return RetryRecord(
            request=request,
            attempt=attempts_made + 1,
            due_at=due_at,
            first_failed_at=first_failed_at or due_at,
            last_error=str((error or {}).get("message", "")),
        )


class ResultEvent(_Record):
    """One event per terminal request, on the results topic (key = user_id)."""

    v: Literal[1] = 1
    event_id: str = Field(description="stable across re-deliveries: '<request_id>:<processed_seq>'")
    request_id: UUID
    user_id: UUID
    type: str
    status: Status
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    sequence: int | None
    processed_seq: int
    completed_at: datetime
    trace_id: str

    @staticmethod
    def make_event_id(request_id: UUID, processed_seq: int) -> str:
        # processed_seq is given once per terminal transition: a redriven request's second outcome is a
        # new event, a re-delivery of the same outcome is not
        return f"{request_id}:{processed_seq}"

    @classmethod
    def encode_row(cls, row: Mapping[str, Any]) -> bytes:
        """The event of a terminal request from its row, encoded: the bytes `encode(ResultEvent.of(row))`
        gives, without building and validating a model (the worker encodes one per request)."""
        return orjson.dumps(
            {
                "v": 1,
                "event_id": cls.make_event_id(row["request_id"], row["processed_seq"]),
                **{name: row[name] for name in _RESULT_FIELDS},
            },
            option=orjson.OPT_UTC_Z,
        )

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ResultEvent:
        """The event of a terminal request, from its row (a mapping with at least the event's fields)."""
        fields = {name: row[name] for name in cls.model_fields if name not in ("v", "event_id")}
        return cls.model_validate({**fields, "event_id": cls.make_event_id(row["request_id"], row["processed_seq"])})


_RESULT_FIELDS = [name for name in ResultEvent.model_fields if name not in ("v", "event_id")]

# Headers a dead letter carries beside the original value (all ASCII strings).
DLQ_CAUSE = "userq.dlq.cause"
DLQ_ERROR = "userq.dlq.error"
DLQ_ATTEMPTS = "userq.dlq.attempts"
DLQ_FIRST_FAILED_AT = "userq.dlq.first_failed_at"
DLQ_LAST_FAILED_AT = "userq.dlq.last_failed_at"
DLQ_ORIGIN_TOPIC = "userq.dlq.origin.topic"
DLQ_ORIGIN_PARTITION = "userq.dlq.origin.partition"
DLQ_ORIGIN_OFFSET = "userq.dlq.origin.offset"

CONTENT_TYPE_HEADER = "content-type"
TRACE_HEADER = "trace_id"

R = TypeVar("R", bound=_Record)


def encode(record: _Record) -> bytes:
    return orjson.dumps(record.model_dump(mode="json"))


def decode(model: type[R], value: bytes | None) -> R:
    if value is None:
        raise UnprocessableRecord("the record has no value")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        raise UnprocessableRecord(f"not a {model.__name__} v1: {where}: {first['msg']}") from None


def standard_headers(content_type: str, trace_id: str) -> Headers:
    return [(CONTENT_TYPE_HEADER, content_type.encode()), (TRACE_HEADER, trace_id.encode())]


def header(headers: Headers | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return None


def result_of(row: RequestRow, topic: str) -> Outgoing:
    """The result event of the terminal request `row`, to publish on `topic` (the results topic)."""
    return Outgoing(
        topic,
        str(row.user_id).encode(),
        ResultEvent.encode_row(vars(row)),
        standard_headers(RESULT_CONTENT_TYPE, row.trace_id),
        row.user_id,
    )


def wakeup_of(row: RequestRow, topic: str) -> Outgoing:
    """A wake-up for `row` on `topic` (the retry topic): its retry when due, else the drain of a parked
    request; the worker that owns the user then looks at the user again."""
    due = row.next_attempt_at or row.accepted_at
    record = RetryRecord.wakeup(request_of(row), row.attempts, due, row.first_failed_at, row.error)
    return Outgoing(
        topic,
        str(row.user_id).encode(),
        encode(record),
        standard_headers(RETRY_CONTENT_TYPE, row.trace_id),
        row.user_id,
    )
