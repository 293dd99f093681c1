"""Records that did not come through an accepting API transaction: never run, never silently dropped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Producer

from harness.checks import read_messages, read_topic
from harness.stack import Client, Stack
from schemas import records as wire
from schemas.records import RequestRecord


def _produce(stack: Stack, key: bytes | None, value: bytes | None, headers: wire.Headers | None = None) -> None:
    producer = Producer({"bootstrap.servers": stack.services.kafka})
    producer.produce(stack.settings.requests_topic, value, key, headers=headers)
    assert producer.flush(10) == 0


def _record(user_id: str, payload: dict[str, Any], type_: str = "demo.echo") -> RequestRecord:
    """A well-formed request record that no API accepted."""
    return RequestRecord(
        request_id=uuid.uuid4(),
        user_id=uuid.UUID(user_id),
        type=type_,
        payload=payload,
        accepted_at=datetime.now(UTC),
        trace_id="foreign",
    )


def _next_request_succeeds(stack: Stack, client: Client) -> None:
    after = client.submit("demo.echo", {"after": "foreign records"})
    stack.wait_terminal(1)
    with stack.db() as conn:
        status = conn.execute("select status from requests where request_id = %s", (after["request_id"],))
        assert status.fetchone() == ("succeeded",)


def test_unreadable_records_are_dead_lettered_and_the_partition_keeps_flowing(stack: Stack, api: str) -> None:
    stack.start_worker()
    client = stack.client(api)
    key = client.user_id.encode()  # same partition as the client's own requests
    for value in (b"\x00\xffgarbage", b'{"v": 99}', None, b"[]"):
        _produce(stack, key, value)
    after = client.submit("demo.echo", {"after": "garbage"})
    stack.wait_terminal(1)

    with stack.db() as conn:
        status = conn.execute("select status from requests where request_id = %s", (after["request_id"],))
        assert status.fetchone() == ("succeeded",)
    dead = read_messages(stack, stack.settings.dlq_topic)
    assert [d.value for d in dead] == [b"\x00\xffgarbage", b'{"v": 99}', None, b"[]"]
    for headers in (d.headers for d in dead):
        assert headers[wire.DLQ_CAUSE] == "unprocessable"
        assert headers[wire.DLQ_ORIGIN_TOPIC] == stack.settings.requests_topic
        assert headers[wire.DLQ_ERROR]


def test_a_record_the_broker_stored_runs_once_in_its_place_even_without_its_row(stack: Stack, api: str) -> None:
    """As when the API died (or PostgreSQL failed) right after the broker's ack: Kafka accepted it, so the
    worker writes its row from the record and runs it, in its place in the user's order, once."""
    stack.start_worker()
    client = stack.client(api)
    ghost = RequestRecord(
        request_id=uuid.uuid4(),
        user_id=uuid.UUID(client.user_id),
        type="ledger.deposit",
        payload={"amount": 1000},
        accepted_at=datetime.now(UTC),
        trace_id="ghost",
    )
    _produce(stack, client.user_id.encode(), wire.encode(ghost))
    _produce(stack, client.user_id.encode(), wire.encode(ghost))  # and the producer's retry: the same request
    real = client.submit("ledger.deposit", {"amount": 1})
    stack.wait_terminal(2)

    with stack.db() as conn:
        rows = conn.execute("select request_id::text, status, processed_seq from requests order by sequence").fetchall()
        assert rows == [(str(ghost.request_id), "succeeded", 1), (real["request_id"], "succeeded", 2)]
        assert conn.execute("select balance from ledger_accounts").fetchone() == (1001,)
        logged = conn.execute(
            "select status from request_events where request_id = %s order by seq", (ghost.request_id,)
        ).fetchall()
        assert [status for (status,) in logged] == ["queued", "processing", "succeeded"]
    assert [e["request_id"] for e in read_topic(stack, stack.settings.results_topic)] == [
        str(ghost.request_id),
        real["request_id"],
    ]


def test_oversized_records_are_dead_lettered_without_their_content(stack: Stack, api: str) -> None:
    """Larger than MAX_RECORD_BYTES (80 KiB): a 900 KB payload, and a 200 KB key on a small record."""
    worker = stack.start_worker()
    client = stack.client(api)
    key = client.user_id.encode()
    _produce(stack, key, wire.encode(_record(client.user_id, {"blob": "x" * 900_000})))
    _produce(stack, b"k" * 200_000, wire.encode(_record(client.user_id, {})))
    _next_request_succeeds(stack, client)

    dead = read_messages(stack, stack.settings.dlq_topic)
    assert [d.value for d in dead] == [None, None]
    for headers in (d.headers for d in dead):
        assert headers[wire.DLQ_CAUSE] == "unprocessable"
        assert "more than MAX_RECORD_BYTES (81920)" in headers[wire.DLQ_ERROR]
        assert headers[wire.DLQ_ORIGIN_TOPIC] == stack.settings.requests_topic
    assert worker.alive()
    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (1,)


def test_records_of_another_schema_version_are_dead_lettered(stack: Stack, api: str) -> None:
    """Well-formed otherwise: a `v` of 2 in the value, or a v2 `content-type` header on a v1 value."""
    worker = stack.start_worker()
    client = stack.client(api)
    key = client.user_id.encode()
    v2_value = orjson.dumps({**orjson.loads(wire.encode(_record(client.user_id, {}))), "v": 2})
    _produce(stack, key, v2_value)
    v2_header: wire.Headers = [(wire.CONTENT_TYPE_HEADER, b"application/vnd.userq.request.v2+json")]
    _produce(stack, key, wire.encode(_record(client.user_id, {})), v2_header)
    _next_request_succeeds(stack, client)

    dead = read_messages(stack, stack.settings.dlq_topic)
    assert [d.headers[wire.DLQ_CAUSE] for d in dead] == ["unprocessable", "unprocessable"]
    assert "v: Input should be 1" in dead[0].headers[wire.DLQ_ERROR]
    assert "request.v2+json" in dead[1].headers[wire.DLQ_ERROR]
    assert worker.alive()


def test_a_record_of_a_user_that_does_not_exist_is_not_run(stack: Stack, api: str) -> None:
    """Like a record whose acceptance rolled back: no row, so it was never accepted; nothing is created."""
    worker = stack.start_worker()
    client = stack.client(api)
    stranger = str(uuid.uuid4())
    _produce(stack, stranger.encode(), wire.encode(_record(stranger, {"amount": 5}, "ledger.deposit")))
    _next_request_succeeds(stack, client)

    with stack.db() as conn:
        assert conn.execute("select count(*) from requests where user_id = %s", (stranger,)).fetchone() == (0,)
        assert conn.execute("select count(*) from user_queues where user_id = %s", (stranger,)).fetchone() == (0,)
        assert conn.execute("select count(*) from ledger_accounts").fetchone() == (0,)
    assert [e["user_id"] for e in read_topic(stack, stack.settings.results_topic)] == [client.user_id]
    assert worker.alive()
