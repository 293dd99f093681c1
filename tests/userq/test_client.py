"""userq.client: the pieces on their own (SSE parsing, Retry-After, the credentials file), then the library
against a real API and worker: sessions and token renewal, submissions, pages, the queue, the live stream."""

from __future__ import annotations

import stat
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.stack import PASSWORD, Stack
from userq.client import ApiError, Client, CredentialsError, FileTokens, MemoryTokens, Tokens
from userq.errors import retry_after_s as _retry_after
from userq.sse import parse_sse


def _user(url: str, **options: Any) -> Client:
    client = Client(url, **options)
    username = f"u{uuid.uuid4().hex[:12]}"
    client.register(username, PASSWORD)
    client.login(username, PASSWORD)
    return client


def _refresh_calls(api: str) -> dict[str, float]:
    """POST /v1/auth/refresh calls the API answered, by status, from its /metrics."""
    calls: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{api}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "userq_api_requests_total" and sample.labels["route"] == "/v1/auth/refresh":
                calls[sample.labels["status"]] = calls.get(sample.labels["status"], 0) + sample.value
    return calls


# ---- on their own


def test_sse_messages_follow_the_event_stream_rules() -> None:
    lines = [
        ": heartbeat",
        "retry: 2500",
        "",
        "id: 1",
        "event: request",
        'data: {"a":',
        "data: 1}",
        "",
        "data:no space",
        "",
        "id: 7",
        "retry: soon",
        "unknown: field",
        "data",
        "",
        "event: request",
        "",
    ]
    messages = list(parse_sse(lines))
    assert [(m.id, m.event, m.data, m.retry_ms) for m in messages] == [
        (None, "message", None, 2500),
        ("1", "request", '{"a":\n1}', None),
        ("1", "message", "no space", None),  # the last event id carries over
        ("7", "message", "", None),
    ]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert _retry_after(None) is None
    assert _retry_after("5") == 5.0
    assert _retry_after("soon") is None
    later = _retry_after(format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True))
    assert later is not None
    assert 25 < later <= 30
    assert _retry_after(format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)) == 0.0


def test_the_credentials_file_is_private_atomic_and_keyed_by_url(tmp_path: Path) -> None:
    path = tmp_path / "config" / "userq" / "credentials.json"
    one, two = FileTokens(path, "http://one:3000/"), FileTokens(path, "http://two:3000")
    assert one.load() is None
    one.save(Tokens("a1", "r1", "alice"))
    two.save(Tokens("a2", "r2", "bob"))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert one.load() == Tokens("a1", "r1", "alice")
    assert FileTokens(path, "http://two:3000/").load() == Tokens("a2", "r2", "bob")
    one.clear()
    assert one.load() is None
    assert two.load() == Tokens("a2", "r2", "bob")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with one.lock():
        pass
    # nothing half-written is left next to it
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json", "credentials.json.lock"]


def test_an_unreadable_credentials_file_is_an_error_not_a_logout(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{not json")
    with pytest.raises(CredentialsError, match="unreadable credentials file"):
        FileTokens(path, "http://one").load()


# ---- against the real API


def test_a_session_submits_pages_and_manages_its_queue(stack: Stack) -> None:
    api = stack.start_api()
    stack.start_worker()
    with _user(api, batch_size=3) as client:
        first = client.submit("ledger.deposit", {"amount": 100}, idempotency_key="deposit-1")
        again = client.submit("ledger.deposit", {"amount": 100}, idempotency_key="deposit-1")
        assert again["request_id"] == first["request_id"]
        batches = list(client.submit_batches([{"type": "demo.echo", "payload": {"n": n}} for n in range(7)]))
        assert [len(b) for b in batches] == [3, 3, 1]
        withdrawal = client.submit_batch([{"type": "ledger.withdraw", "payload": {"amount": 300}}])[0]
        stack.wait_terminal(9, timeout=60)

        listed = list(client.list_requests(page_size=2))  # five pages
        assert [v["sequence"] for v in listed] == sorted(v["sequence"] for v in listed)
        assert [v["request_id"] for v in listed] == [
            first["request_id"],
            *(v["request_id"] for b in batches for v in b),
            withdrawal["request_id"],
        ]
        assert [v["payload"] for v in listed[1:8]] == [{"n": n} for n in range(7)]
        assert {v["status"] for v in client.list_requests(status="succeeded")} == {"succeeded"}
        assert client.get(withdrawal["request_id"])["result"] == {
            "ok": False,
            "reason": "insufficient_funds",
            "balance": 100,
        }

        assert client.queue()["depth"] == 0
        assert client.pause()["paused"] is True
        held = client.submit("demo.echo", {})
        time.sleep(1)
        assert client.get(held["request_id"])["status"] == "queued"  # paused: accepted, not started
        purged = client.purge()
        assert purged["cancelled"] == [held["request_id"]]
        assert client.resume()["paused"] is False


def test_refusals_raise_api_error_with_the_apis_code_and_message(stack: Stack) -> None:
    api = stack.start_api()
    with _user(api) as client:
        with pytest.raises(ApiError) as unknown:
            client.get(str(uuid.uuid4()))
        assert (unknown.value.status, unknown.value.code) == (404, "not_found")
        assert unknown.value.message == "request not found"
        with pytest.raises(ApiError) as invalid:
            client.submit("no.such.type", {})
        assert (invalid.value.status, invalid.value.code) == (422, "unknown_type")
        with pytest.raises(ApiError) as taken:
            client.register(client.tokens.load().username or "", PASSWORD)  # type: ignore[union-attr]
        assert taken.value.status == 409
    with Client(api) as stranger:
        with pytest.raises(ApiError) as wrong:
            stranger.login("nobody-at-all", "not the password")
        assert (wrong.value.status, wrong.value.code, wrong.value.message) == (
            401,
            "invalid_credentials",
            "wrong username or password",
        )
        with pytest.raises(ApiError) as anonymous:
            stranger.queue()
        assert anonymous.value.status == 401


def test_submit_waits_out_a_short_retry_after_and_raises_a_long_one(stack: Stack) -> None:
    api = stack.start_api(SUBMIT_RATE_PER_S="1", SUBMIT_BURST="1")
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    with _user(api, sleep=sleep) as client:
        client.submit("demo.echo", {})
        client.submit("demo.echo", {})  # over the rate: 429, Retry-After 1, then accepted
        assert slept == [1.0]
        client.submit_batch([{"type": "demo.echo"}])
        assert slept == [1.0, 1.0]
        client.submit_retries = 0
        with pytest.raises(ApiError) as limited:
            client.submit("demo.echo", {})
        assert (limited.value.status, limited.value.code, limited.value.retry_after) == (429, "rate_limited", 1.0)
        client.submit_retries, client.max_retry_wait_s = 3, 0.5  # Retry-After 1 s is longer than we wait
        with pytest.raises(ApiError):
            client.submit("demo.echo", {})
        assert slept == [1.0, 1.0]


def test_a_batch_larger_than_the_api_takes_is_split_and_keeps_its_order(stack: Stack) -> None:
    api = stack.start_api(MAX_BATCH_REQUESTS="4")
    with _user(api, batch_size=10) as client:
        views = client.submit_batch([{"type": "demo.echo", "payload": {"n": n}} for n in range(11)])
        assert [v["payload"]["n"] for v in views] == list(range(11))
        assert client.batch_size <= 4
        assert [v["request_id"] for v in client.list_requests()] == [v["request_id"] for v in views]


def test_an_expired_access_token_is_renewed_once_for_every_process_sharing_the_login(
    stack: Stack, tmp_path: Path
) -> None:
    api = stack.start_api(ACCESS_TOKEN_TTL_S="60", JWT_LEEWAY_S="0")  # 60 s is the shortest the API allows
    path = tmp_path / "credentials.json"
    with Client(api, FileTokens(path, api)) as first:
        username = f"u{uuid.uuid4().hex[:12]}"
        first.register(username, PASSWORD)
        issued = first.login(username, PASSWORD)
        first.queue()
    time.sleep(61)

    # six "processes" (one client each, one credentials file) find the token expired at the same moment; a
    # refresh token works once and a reused one ends the session, so only one of them may spend it
    results: list[object] = []
    start = threading.Barrier(6)

    def call() -> None:
        with Client(api, FileTokens(path, api)) as client:
            start.wait()
            try:
                results.append(client.queue()["state"])
            except ApiError as exc:
                results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["none"] * 6
    assert _refresh_calls(api) == {"200": 1}  # the others found the tokens renewed and used them
    renewed = FileTokens(path, api).load()
    assert renewed is not None
    assert renewed.access_token != issued.access_token
    assert renewed.refresh_token != issued.refresh_token
    assert renewed.username == username

    with Client(api, FileTokens(path, api)) as client:
        assert client.submit("demo.echo", {})["status"] == "queued"  # the session lives on
        client.logout()
        assert FileTokens(path, api).load() is None
    with Client(api, MemoryTokens(renewed)) as stale, pytest.raises(ApiError) as ended:
        stale.queue()  # 401, and the refresh is refused too: the session is over
    assert ended.value.status == 401


def test_the_stream_reconnects_with_last_event_id_and_misses_nothing(stack: Stack) -> None:
    api = stack.start_api(STREAM_HEARTBEAT_S="0.5", STREAM_MAX_DURATION_S="2")
    stack.start_worker()
    with _user(api) as client:
        submitted = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(2)]
        events = client.stream(read_timeout=5)
        head = [next(events) for _ in range(6)]
        time.sleep(3)  # the server ends the stream meanwhile: the next read reconnects after event 6
        submitted += [client.submit("demo.echo", {"n": n})["request_id"] for n in range(2, 4)]
        tail = [next(events) for _ in range(6)]
        events.close()

    got = head + tail
    assert [e.id for e in got] == list(range(1, 13))
    assert all(e.event == "request" and e.data["seq"] == e.id for e in got)
    assert [e.data["request_id"] for e in got if e.data["status"] == "succeeded"] == submitted
    assert got[-1].data["result"] == {"n": 3}


def test_the_stream_ends_with_the_session(stack: Stack) -> None:
    api = stack.start_api(STREAM_HEARTBEAT_S="0.5")
    client = _user(api)
    ended: list[BaseException] = []

    def read() -> None:
        try:
            for _ in client.stream(read_timeout=5):
                pass
        except ApiError as exc:
            ended.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(1)
    tokens = client.tokens.load()
    assert tokens is not None
    with Client(api, MemoryTokens(tokens)) as other:
        other.logout()
    reader.join(15)
    client.close()
    assert not reader.is_alive()
    assert [getattr(e, "status", None) for e in ended] == [401]
