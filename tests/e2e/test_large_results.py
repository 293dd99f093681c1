"""Results too large for the broker: refused at the handler's boundary, never stuck in the outbox.

The result event carries the handler's result, and the broker takes a record of about 1 MB at most
(`message.max.bytes` of the producer is 1,000,000 bytes, the broker's `max.message.bytes` 1 MiB by
default). A result over MAX_RESULT_BYTES (256 KiB; the setting stops at 900 KiB) dead-letters its request
with the reason, so its event could never be refused after the commit and hold the outbox (docs/failures.md).
"""

from __future__ import annotations

import json

import pytest

from harness.checks import check, read_messages, read_topic
from harness.stack import Stack
from schemas import records as wire
from tests.support.scenario import outbox_count
from tests.support.waits import wait_until

pytestmark = pytest.mark.partitions(1)

TEST_TYPES = {"HANDLER_MODULES": json.dumps(["request_types.builtin", "tests.support.handlers"])}


def test_a_result_of_a_megabyte_dead_letters_its_request_and_the_user_moves_on(stack: Stack) -> None:
    worker = stack.start_worker(**TEST_TYPES)
    client = stack.client(stack.start_api(**TEST_TYPES))
    big = client.submit("test.sized", {"bytes": 1_000_000})["request_id"]
    after = client.submit("demo.echo", {"after": "the big one"})["request_id"]
    stack.wait_terminal(2, timeout=60)

    with stack.db() as conn:
        rows = conn.execute(
            "select request_id::text, status, error, processed_seq from requests order by sequence"
        ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [(big, "dead_lettered", 1), (after, "succeeded", 2)]
    error = rows[0][2]
    assert error["cause"] == "permanent"
    assert "more than MAX_RESULT_BYTES (262144)" in error["message"]
    [dead] = read_messages(stack, stack.settings.dlq_topic)
    assert dead.headers[wire.DLQ_CAUSE] == "permanent"
    assert "MAX_RESULT_BYTES" in dead.headers[wire.DLQ_ERROR]
    assert [e["request_id"] for e in read_topic(stack, stack.settings.results_topic)] == [big, after]
    wait_until(lambda: outbox_count(stack) == 0, 30, "the outbox emptied: nothing left that the broker refuses")
    assert worker.alive()
    assert check(stack, {client.user_id: [big, after]}, expect_dead=lambda r: r["type"] == "test.sized").problems == []


def test_a_result_just_under_the_largest_bound_is_published_with_the_brokers_defaults(stack: Stack) -> None:
    """MAX_RESULT_BYTES at its highest (900 KiB): a result just under it, with its event's envelope, is a
    record the producer and the broker take with their default limits."""
    stack.start_worker(MAX_RESULT_BYTES=str(900 << 10), **TEST_TYPES)
    client = stack.client(stack.start_api(**TEST_TYPES))
    large = client.submit("test.sized", {"bytes": (900 << 10) - 20})["request_id"]
    stack.wait_terminal(1, timeout=60)

    wait_until(lambda: outbox_count(stack) == 0, 30, "the large result's event delivered")
    [event] = read_topic(stack, stack.settings.results_topic)
    assert (event["request_id"], event["status"]) == (large, "succeeded")
    assert len(event["result"]["blob"]) == (900 << 10) - 20
