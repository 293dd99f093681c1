"""A consumed record as the worker reads it: its place, its bytes, and what it parsed to (pure).

Nothing consumed is dropped: a record that cannot be read comes back with the reason (`problem`), and
the tick dead-letters it with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import records as wire
from schemas.records import Headers, RequestRecord, RetryRecord
from stream_worker.offsets import Position


@dataclass(frozen=True)
class Inbound:
    """A consumed record: its place, its bytes, and what it parsed to (or why it did not)."""

    position: Position
    key: bytes | None
    value: bytes | None
    headers: Headers
    record: RequestRecord | None
    wakeup: RetryRecord | None = None  # set for records of the retry topic
    problem: str | None = None


def read(
    position: Position,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    retry_topic: str,
    max_bytes: int,
) -> Inbound:
    """Parse a consumed record; an unreadable one comes back with `problem` set, never raised.

    A record larger than `max_bytes` (key, value and headers) is not parsed, and its dead letter copies
    none of them: it might not fit in a record of its own. Its origin headers say where to find it.
    A `content-type` header, when there is one, must name the schema of the topic.
    """
    headers = list(headers or [])
    size = len(key or b"") + len(value or b"") + sum(len(k) + len(v or b"") for k, v in headers)
    if size > max_bytes:
        problem = f"the record is {size} bytes, more than MAX_RECORD_BYTES ({max_bytes}); its content is not copied"
        return Inbound(position, None, None, [], None, problem=problem)
    expected = wire.RETRY_CONTENT_TYPE if position.topic == retry_topic else wire.REQUEST_CONTENT_TYPE
    declared = wire.header(headers, wire.CONTENT_TYPE_HEADER)
    if declared is not None and declared != expected:
        return Inbound(position, key, value, headers, None, problem=f"content-type {declared!r}, not {expected!r}")
    wakeup: RetryRecord | None = None
    try:
        if position.topic == retry_topic:
            wakeup = wire.decode(RetryRecord, value)
            record = wakeup.request
        else:
            record = wire.decode(RequestRecord, value)
    except wire.UnprocessableRecord as exc:
        return Inbound(position, key, value, headers, None, problem=str(exc))
    if key is not None and key != str(record.user_id).encode():
        return Inbound(position, key, value, headers, None, problem="the key is not the record's user_id")
    return Inbound(position, key, value, headers, record, wakeup)
