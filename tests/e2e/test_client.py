"""userq.client against a real API and worker: what the unit tier (tests/unit/userq, an in-memory API) cannot
show: that the client and the real API agree on sessions and token renewal, submissions and their batch
limit, pages, the queue, refusals, and the live stream's end and resumption."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.stack import PASSWORD, Stack
from producer_api.settings import DEV_JWT_SECRET
from userq.client import ApiError, Client, FileTokens, MemoryTokens, Tokens


def _user(url: str, **options: Any) -> Client:
    client = Client(url, **options)
    username = f"u{uuid.uuid4().hex[:12]}"
    client.register(username, PASSWORD)
    client.login(username, PASSWORD)
    return client


def _expired(access_token: str) -> str:
    """The access token as it will be once its lifetime is over: the same claims, `exp` in the past, signed
    with the test API's key."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    now = int(time.time())
    return jwt.encode({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, DEV_JWT_SECRET, "HS256")


def _refresh_calls(api: str) -> dict[str, float]:
    """POST /v1/auth/refresh calls the API answered, by status, from its /metrics."""
    calls: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{api}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "userq_api_requests_total" and sample.labels["route"] == "/v1/auth/refresh":
                calls[sample.labels["status"]] = calls.get(sample.labels["status"], 0) + sample.value
    return calls


def test_a_session_submits_pages_and_manages_its_queue(stack: Stack) -> None:
    api = stack.start_api(MAX_BATCH_REQUESTS="4")
    stack.start_worker()
    with _user(api, batch_size=10) as client:
        first = client.submit("ledger.deposit", {"amount": 100}, idempotency_key="deposit-1")
        again = client.submit("ledger.deposit", {"amount": 100}, idempotency_key="deposit-1")
        assert again["request_id"] == first["request_id"]
        echoes = client.submit_batch([{"type": "demo.echo", "payload": {"n": n}} for n in range(7)])
        assert client.batch_size <= 4  # the API's 413 taught it
        withdrawal = client.submit_batch([{"type": "ledger.withdraw", "payload": {"amount": 300}}])[0]
        stack.wait_terminal(9, timeout=60)

        listed = list(client.list_requests(page_size=2))  # five pages
        assert [v["request_id"] for v in listed] == [
            first["request_id"],
            *(v["request_id"] for v in echoes),
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
        assert client.purge()["cancelled"] == [held["request_id"]]  # paused: accepted, not started
        assert client.resume()["paused"] is False

        with pytest.raises(ApiError) as unknown:
            client.get(str(uuid.uuid4()))
        assert (unknown.value.status, unknown.value.code, unknown.value.message) == (
            404,
            "not_found",
            "request not found",
        )
        with pytest.raises(ApiError) as invalid:
            client.submit("no.such.type", {})
        assert (invalid.value.status, invalid.value.code) == (422, "unknown_type")
    with Client(api) as stranger, pytest.raises(ApiError) as wrong:
        stranger.login("nobody-at-all", "not the password")
    assert (wrong.value.status, wrong.value.code) == (401, "invalid_credentials")


def test_an_expired_access_token_is_renewed_once_for_every_process_sharing_the_login(
    stack: Stack, tmp_path: Path
) -> None:
    api = stack.start_api()
    path = tmp_path / "credentials.json"
    with _user(api, tokens=FileTokens(path, api)) as first:
        issued = first.tokens.load()
    assert issued is not None
    expired = Tokens(_expired(issued.access_token), issued.refresh_token, issued.username)
    refused = httpx.get(f"{api}/v1/queue", headers={"Authorization": f"Bearer {expired.access_token}"}, timeout=10)
    assert refused.status_code == 401
    FileTokens(path, api).save(expired)

    # four "processes" (one client each, one credentials file) find the token expired at the same moment; a
    # refresh token works once and a reused one ends the session, so only one of them may spend it
    results: list[object] = []
    start = threading.Barrier(4)

    def call() -> None:
        with Client(api, FileTokens(path, api)) as client:
            start.wait()
            try:
                results.append(client.queue()["state"])
            except ApiError as exc:
                results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["none"] * 4
    assert _refresh_calls(api) == {"200": 1}  # the others found the tokens renewed and used them
    renewed = FileTokens(path, api).load()
    assert renewed is not None
    assert renewed.refresh_token != issued.refresh_token
    assert renewed.username == issued.username

    with Client(api, FileTokens(path, api)) as client:
        client.logout()
    assert FileTokens(path, api).load() is None
    with Client(api, MemoryTokens(renewed)) as stale, pytest.raises(ApiError) as ended:
        stale.queue()  # 401, and the refresh is refused too: the session is over
    assert ended.value.status == 401


class _Recording(httpx.HTTPTransport):
    """httpx's transport, noting the `Last-Event-ID` of every connection to the stream."""

    def __init__(self) -> None:
        super().__init__()
        self.last_event_ids: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/stream":
            self.last_event_ids.append(request.headers.get("Last-Event-ID"))
        return super().handle_request(request)


def test_the_stream_reconnects_with_last_event_id_and_misses_nothing(stack: Stack) -> None:
    api = stack.start_api(STREAM_HEARTBEAT_S="0.25", STREAM_MAX_DURATION_S="1")
    stack.start_worker()
    transport = _Recording()
    with _user(api, transport=transport) as client:
        submitted = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(2)]
        events = client.stream(read_timeout=5)
        head = [next(events) for _ in range(6)]
        time.sleep(1.2)  # longer than the stream may last: the connection that gave event 6 has ended
        submitted += [client.submit("demo.echo", {"n": n})["request_id"] for n in range(2, 4)]
        tail = [next(events) for _ in range(6)]
        events.close()

    got = head + tail
    assert [e.id for e in got] == list(range(1, 13))
    assert all(e.event == "request" and e.data["seq"] == e.id for e in got)
    assert [e.data["request_id"] for e in got if e.data["status"] == "succeeded"] == submitted
    assert got[-1].data["result"] == {"n": 3}
    assert transport.last_event_ids[0] is None
    assert "6" in transport.last_event_ids
