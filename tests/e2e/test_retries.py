"""Retries through the retry topic, parking, and dead letters, on one partition (every user shares it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer

from harness.checks import check, read_messages
from harness.stack import Stack, consumer_lag
from schemas import records as wire
from schemas.records import RequestRecord, RetryRecord
from tests.support.waits import wait_until

pytestmark = pytest.mark.partitions(1)


def _rows(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    with stack.db() as conn:
        cur = conn.execute(
            """select request_id::text, type, status, attempts, parked, processed_seq, started_at, completed_at
                 from requests where user_id = %s order by sequence""",
            (user_id,),
        )
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_a_retry_holds_only_its_users_later_requests_and_keeps_their_order(stack: Stack, api: str) -> None:
    stack.start_worker()
    slow, others = stack.client(api), [stack.client(api) for _ in range(3)]
    accepted: dict[str, list[str]] = {c.user_id: [] for c in [slow, *others]}
    accepted[slow.user_id].append(slow.submit("demo.flaky", {"fail_times": 2, "retry_after_s": 2})["request_id"])
    for i in range(5):
        accepted[slow.user_id].append(slow.submit("ledger.deposit", {"amount": 10 + i})["request_id"])
        for other in others:
            accepted[other.user_id].append(other.submit("ledger.deposit", {"amount": 1})["request_id"])

    def others_done_and_slow_parked() -> bool:
        done = all(r["status"] == "succeeded" for other in others for r in _rows(stack, other.user_id))
        return done and all(r["parked"] for r in _rows(stack, slow.user_id)[1:])

    wait_until(others_done_and_slow_parked, 30, "everyone else done, the slow user's later requests parked")
    with stack.db() as conn:
        held = conn.execute("select hold_reason from user_queues where user_id = %s", (slow.user_id,)).fetchone()
    assert held == ("retrying",)
    rows = _rows(stack, slow.user_id)
    assert [r["status"] for r in rows] == ["retrying"] + ["queued"] * 5
    assert all(r["parked"] for r in rows[1:])
    for other in others:
        assert [r["status"] for r in _rows(stack, other.user_id)] == ["succeeded"] * 5

    stack.wait_terminal(20, timeout=30)
    rows = _rows(stack, slow.user_id)
    assert rows[0]["attempts"] == 3
    assert [r["processed_seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert check(stack, accepted).problems == []


def test_a_poison_request_is_dead_lettered_and_its_user_moves_on(stack: Stack, api: str) -> None:
    stack.start_worker()
    client = stack.client(api)
    poison = client.submit("demo.poison", {})
    after = client.submit("ledger.deposit", {"amount": 5})
    stack.wait_terminal(2)

    rows = _rows(stack, client.user_id)
    assert [(r["status"], r["processed_seq"]) for r in rows] == [("dead_lettered", 1), ("succeeded", 2)]
    [dead] = read_messages(stack, stack.settings.dlq_topic)
    assert dead.headers[wire.DLQ_CAUSE] == "permanent"
    assert dead.headers[wire.DLQ_ATTEMPTS] == "1"
    assert dead.headers[wire.DLQ_ORIGIN_TOPIC] == stack.settings.requests_topic
    assert dead.headers[wire.DLQ_ORIGIN_OFFSET] == str(poison["sequence"])
    assert "demo.poison always fails" in dead.headers[wire.DLQ_ERROR]
    assert check(stack, {client.user_id: [poison["request_id"], after["request_id"]]}).problems == []


def test_max_attempts_dead_letters_a_request_that_keeps_failing(stack: Stack, api: str) -> None:
    stack.start_worker(MAX_ATTEMPTS="3", RETRY_BASE_DELAY_S="0.05")
    client = stack.client(api)
    client.submit("demo.flaky", {"fail_times": 10})
    client.submit("demo.echo", {"after": True})
    stack.wait_terminal(2, timeout=30)

    rows = _rows(stack, client.user_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("dead_lettered", 3), ("succeeded", 1)]
    [dead] = read_messages(stack, stack.settings.dlq_topic)
    assert dead.headers[wire.DLQ_CAUSE] == "max_attempts"
    assert dead.headers[wire.DLQ_FIRST_FAILED_AT] < dead.headers[wire.DLQ_LAST_FAILED_AT]


def test_the_queue_view_follows_a_hold_and_a_drain(stack: Stack, api: str) -> None:
    client = stack.client(api)
    assert client.http.get("/v1/queue").json() == {
        "depth": 0,
        "retrying": 0,
        "oldest_queued_at": None,
        "paused": False,
        "paused_by": None,
        "hold": None,
        "state": "none",
    }
    client.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 2})
    waiting = client.submit("demo.echo", {})
    assert client.http.get("/v1/queue").json()["state"] == "active"  # no worker yet
    stack.start_worker()

    def held() -> dict[str, Any] | None:
        view: dict[str, Any] = client.http.get("/v1/queue").json()
        return view if view["hold"] else None

    queue = wait_until(held, 30, "the user held: the first attempt failed")
    assert queue == {
        "depth": 2,
        "retrying": 1,
        "oldest_queued_at": waiting["accepted_at"],
        "paused": False,
        "paused_by": None,
        "hold": "retrying",
        "state": "active",
    }
    stack.wait_terminal(2, timeout=30)
    assert client.http.get("/v1/queue").json()["state"] == "drained"


def test_a_long_line_of_parked_requests_drains_in_order_across_transactions(stack: Stack) -> None:
    # 600 parked behind one retry, run DRAIN_LIMIT at a time: the rest wait for a wake-up, still in order
    stack.start_worker(DRAIN_LIMIT="250")
    client = stack.client(stack.start_api(SUBMIT_BURST="1000"))
    ids = [client.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 3})["request_id"]]
    for start in range(0, 600, 100):
        batch = [{"type": "demo.echo", "payload": {"n": n}} for n in range(start, start + 100)]
        response = client.http.post("/v1/requests/batch", json={"requests": batch})
        assert response.status_code == 202, response.text
        ids += [r["request_id"] for r in response.json()["requests"]]
    rows = _rows(stack, client.user_id)
    assert rows[0]["status"] == "retrying", "the retry came before the line was parked: make its delay longer"

    stack.wait_terminal(601, timeout=60)
    rows = _rows(stack, client.user_id)
    assert [r["processed_seq"] for r in rows] == list(range(1, 602))
    assert [r["started_at"] for r in rows[1:]] == sorted(r["started_at"] for r in rows[1:])
    assert check(stack, {client.user_id: ids}).problems == []


def _retry_lag(stack: Stack) -> int:
    """How far the group's commit point on the retry topic is behind its end."""
    return sum(n for name, n in consumer_lag(stack).items() if name.startswith(stack.settings.retry_topic))


def test_far_future_wake_ups_do_not_pin_the_retry_partition(stack: Stack, api: str) -> None:
    """Wake-ups due in the year 2100 (records of no request, as anyone may write into the retry topic),
    more than MAX_SCHEDULED_WAKEUPS of them: none is held in memory, the retry partition's commit point
    moves past them, and a held user on that partition gets its retry and drains."""
    stack.start_worker(MAX_SCHEDULED_WAKEUPS="10")
    client = stack.client(api)
    producer = Producer({"bootstrap.servers": stack.services.kafka})
    for _ in range(12):
        record = RetryRecord.wakeup(
            RequestRecord(
                request_id=uuid.uuid4(),
                user_id=uuid.UUID(client.user_id),
                type="demo.echo",
                payload={},
                accepted_at=datetime.now(UTC),
                trace_id="foreign",
            ),
            1,
            datetime(2100, 1, 1, tzinfo=UTC),
            None,
            None,
        )
        producer.produce(stack.settings.retry_topic, wire.encode(record), client.user_id.encode())
    assert producer.flush(10) == 0
    wait_until(lambda: _retry_lag(stack) == 0, 30, "the retry partition's commit point past the far wake-ups")

    flaky = client.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 0.5})["request_id"]
    after = client.submit("demo.echo", {})["request_id"]
    stack.wait_terminal(2, timeout=30)
    assert [(r["request_id"], r["status"]) for r in _rows(stack, client.user_id)] == [
        (flaky, "succeeded"),
        (after, "succeeded"),
    ]
    wait_until(lambda: _retry_lag(stack) == 0, 30, "the retry partition committed to its end")


def test_a_retry_due_beyond_the_horizon_waits_in_postgresql_and_runs_on_time(stack: Stack, api: str) -> None:
    """A wake-up due later than WAKEUP_HORIZON_S is not held in memory: its request's `next_attempt_at` is
    in PostgreSQL, so the retry partition's commit point moves past it at once; a sweep publishes a new
    wake-up when the time comes within the horizon, and the retry runs then, not before."""
    stack.start_worker(WAKEUP_HORIZON_S="1", OUTBOX_SWEEP_INTERVAL_S="0.3")
    client = stack.client(api)
    flaky = client.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 6})["request_id"]
    after = client.submit("demo.echo", {})["request_id"]

    def committed_while_retrying() -> bool:
        retrying = _rows(stack, client.user_id)[0]["status"] == "retrying"
        return retrying and len(read_messages(stack, stack.settings.retry_topic)) > 0 and _retry_lag(stack) == 0

    wait_until(committed_while_retrying, 30, "the retry partition committed past the wake-up while it waits")
    stack.wait_terminal(2, timeout=30)
    rows = _rows(stack, client.user_id)
    assert [(r["request_id"], r["status"], r["attempts"]) for r in rows] == [
        (flaky, "succeeded", 2),
        (after, "succeeded", 1),
    ]
    with stack.db() as conn:
        failed, retried = conn.execute(
            """select max(at) filter (where status = 'retrying'), max(at) filter (where attempt = 2)
                 from request_events where request_id = %s""",
            (flaky,),
        ).fetchone() or (None, None)
    assert failed is not None and retried is not None
    assert (retried - failed).total_seconds() >= 6 - 0.1, "the retry ran before its time"
    assert check(stack, {client.user_id: [flaky, after]}).problems == []
