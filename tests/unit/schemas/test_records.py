from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from schemas.records import RequestRecord, ResultEvent, RetryRecord, UnprocessableRecord, decode, encode, header


def _request(**changes: object) -> RequestRecord:
    base = RequestRecord(
        request_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        type="demo.echo",
        payload={"a": [1, 2]},
        accepted_at=datetime.now(UTC),
        trace_id="t1",
    )
    return base.model_copy(update=changes)


def test_a_request_record_round_trips() -> None:
    record = _request()
    assert decode(RequestRecord, encode(record)) == record


def test_every_record_says_its_version() -> None:
    assert orjson.loads(encode(_request()))["v"] == 1


def test_a_retry_record_nests_the_request() -> None:
    now = datetime.now(UTC)
    retry = RetryRecord(request=_request(), attempt=2, due_at=now, first_failed_at=now, last_error="boom")
    assert decode(RetryRecord, encode(retry)) == retry


def test_the_result_event_id_is_stable_per_terminal_transition() -> None:
    request_id = uuid.uuid4()
    assert ResultEvent.make_event_id(request_id, 7) == f"{request_id}:7"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "no value"),
        (b"\xff\xfe garbage", "RequestRecord"),
        (b"[]", "RequestRecord"),
        (orjson.dumps({"v": 2}), "v"),
    ],
)
def test_what_does_not_parse_is_reported_not_dropped(value: bytes | None, says: str) -> None:
    with pytest.raises(UnprocessableRecord, match=says):
        decode(RequestRecord, value)


def test_a_newer_schema_version_is_refused() -> None:
    value = orjson.loads(encode(_request()))
    value["v"] = 2
    with pytest.raises(UnprocessableRecord, match="v"):
        decode(RequestRecord, orjson.dumps(value))


def test_unknown_fields_are_refused() -> None:
    value = orjson.loads(encode(_request()))
    value["role"] = "admin"
    with pytest.raises(UnprocessableRecord, match="role"):
        decode(RequestRecord, orjson.dumps(value))


def test_header_lookup() -> None:
    assert header([("a", b"1"), ("b", "2")], "b") == "2"
    assert header(None, "a") is None


@pytest.mark.parametrize(
    ("completed_at", "result", "error"),
    [
        (datetime(2026, 12, 3, 15, 0, 0, tzinfo=UTC), {"ok": True, "n": [1, 2]}, None),
        (datetime(2026, 12, 3, 15, 0, 0, 123456, tzinfo=UTC), None, {"cause": "permanent", "message": "é"}),
    ],
)
def test_the_fast_result_encoding_is_the_models(
    completed_at: datetime, result: dict[str, object] | None, error: dict[str, object] | None
) -> None:
    row = {
        "request_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "type": "demo.echo",
        "status": "succeeded",
        "result": result,
        "error": error,
        "attempts": 2,
        "sequence": 41,
        "processed_seq": 7,
        "completed_at": completed_at,
        "trace_id": "t1",
        "payload": {"not": "in the event"},
    }
    assert ResultEvent.encode_row(row) == encode(ResultEvent.of(row))
