"""`read`: what a consumed record parses to, or why it does not (never raised)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas import records as wire
from schemas.records import RequestRecord
from stream_worker.inbound import read
from stream_worker.offsets import Position

AT = Position("userq.requests", 0, 7)
LIMIT = 80 << 10


def _value(user_id: uuid.UUID, **payload: object) -> bytes:
    record = RequestRecord(
        request_id=uuid.uuid4(),
        user_id=user_id,
        type="demo.echo",
        payload=payload,
        accepted_at=datetime.now(UTC),
        trace_id="t",
    )
    return wire.encode(record)


def test_a_record_reads_with_or_without_its_content_type() -> None:
    user = uuid.uuid4()
    headers = wire.standard_headers(wire.REQUEST_CONTENT_TYPE, "t")
    for given in (headers, None):
        item = read(AT, str(user).encode(), _value(user), given, "userq.requests.retry", LIMIT)
        assert item.problem is None
        assert item.record is not None and item.record.user_id == user


def test_an_oversized_record_is_not_parsed_and_its_content_not_kept() -> None:
    user = uuid.uuid4()
    for key, value in ((str(user).encode(), _value(user, blob="x" * LIMIT)), (b"k" * LIMIT, _value(user))):
        item = read(AT, key, value, [("h", b"v")], "userq.requests.retry", LIMIT)
        assert item.record is None
        assert (item.key, item.value, item.headers) == (None, None, [])
        assert item.problem is not None and f"more than MAX_RECORD_BYTES ({LIMIT})" in item.problem


def test_a_content_type_of_another_schema_is_refused() -> None:
    user = uuid.uuid4()
    headers = wire.standard_headers(wire.RETRY_CONTENT_TYPE, "t")  # a wake-up's, on the requests topic
    item = read(AT, str(user).encode(), _value(user), headers, "userq.requests.retry", LIMIT)
    assert item.record is None
    assert item.problem is not None and "content-type" in item.problem
