"""Records that did not come through an accepting API transaction: never run, never silently dropped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from confluent_kafka import Producer

from schemas import records as wire
from schemas.records import RequestRecord
from tests.support.checks import read_messages, read_topic
from tests.support.stack import Stack


def _produce(stack: Stack, key: bytes | None, value: bytes | None) -> None:
    producer = Producer({"bootstrap.servers": stack.services.kafka})
    producer.produce(stack.settings.requests_topic, value, key)
    assert producer.flush(10) == 0


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


def test_a_record_whose_acceptance_rolled_back_is_not_run(stack: Stack, api: str) -> None:
    """As when the broker stored a record but the API's transaction then failed and the client got 503."""
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
    real = client.submit("ledger.deposit", {"amount": 1})
    stack.wait_terminal(1)

    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (1,)
        assert conn.execute("select balance from ledger_accounts").fetchone() == (1,)
    [event] = read_topic(stack, stack.settings.results_topic)
    assert event["request_id"] == real["request_id"]
