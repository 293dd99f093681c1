"""GET /v1/stream: a user's state changes as Server-Sent Events, in order, resumable, private."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx

from harness.stack import Client, Stack
from tests.support.sse import collect, messages

STREAM = {"STREAM_HEARTBEAT_S": "1"}


@contextlib.contextmanager
def _open(client: Client, last_event_id: int | None = None) -> Iterator[httpx.Response]:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    request = client.http.build_request("GET", "/v1/stream", headers=headers, timeout=httpx.Timeout(10, read=5))
    response = client.http.send(request, stream=True)
    try:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield response
    finally:
        response.close()


def test_a_client_sees_its_events_in_order_and_resumes_without_missing_any(stack: Stack) -> None:
    api = stack.start_api(**STREAM)
    stack.start_worker()
    client = stack.client(api)
    submitted = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(70)]  # 210 events

    with _open(client) as first:
        head = collect(messages(first), 90)
    # the client went away mid-stream; it comes back with the last id it saw
    with _open(client, last_event_id=head[-1].id) as again:
        tail = collect(messages(again), 120)

    events = head + tail
    assert [e.id for e in events] == list(range(1, 211))
    assert all(e.event == "request" and e.data for e in events)
    per_request: dict[str, list[str]] = {}
    for event in events:
        assert event.data is not None
        per_request.setdefault(event.data["request_id"], []).append(event.data["status"])
    assert set(per_request) == set(submitted)
    assert all(statuses == ["queued", "processing", "succeeded"] for statuses in per_request.values())
    # per-user FIFO, as the stream shows it: request k+1 starts only after request k succeeded
    started = [e.data["request_id"] for e in events if e.data and e.data["status"] == "processing"]
    finished = [e.data["request_id"] for e in events if e.data and e.data["status"] == "succeeded"]
    assert started == finished == submitted
    assert tail[-1].data and tail[-1].data["result"] == {"n": 69}


def test_heartbeats_keep_an_idle_stream_open(stack: Stack) -> None:
    api = stack.start_api(**STREAM)
    client = stack.client(api)
    with _open(client) as response:
        comments = []
        for message in messages(response):
            if message.comment is not None:
                comments.append(message.comment)
            if len(comments) == 2:
                break
    assert comments == ["heartbeat", "heartbeat"]


def test_a_stream_ends_after_its_maximum_duration(stack: Stack) -> None:
    api = stack.start_api(**STREAM, STREAM_MAX_DURATION_S="2")
    client = stack.client(api)
    started = time.monotonic()
    with _open(client) as response:
        assert {m.comment for m in messages(response)} == {"heartbeat"}  # then the server ended it
    assert 1.5 < time.monotonic() - started < 5


def test_a_stream_carries_only_the_callers_events(stack: Stack) -> None:
    api = stack.start_api(**STREAM)
    alice, bob = stack.client(api), stack.client(api)
    mine = alice.submit("demo.echo", {"who": "alice"})["request_id"]
    bob.submit("demo.echo", {"who": "bob"})
    with _open(bob) as response:
        bob_stream = messages(response)
        [only] = collect(bob_stream, 1)
        alice.submit("demo.echo", {"who": "alice again"})
        bob.submit("demo.echo", {"who": "bob again"})
        [second] = collect(bob_stream, 1)
    assert only.data and second.data
    assert only.data["request_id"] != mine
    assert (only.id, second.id) == (1, 2)  # numbered per user: Alice's events take none of Bob's numbers
    assert httpx.get(f"{api}/v1/stream", timeout=5).status_code == 401


def test_logout_ends_the_stream(stack: Stack) -> None:
    api = stack.start_api(**STREAM)
    client = stack.client(api)
    heard, ended = threading.Event(), threading.Event()

    def read() -> None:
        with _open(client) as response:
            for _ in messages(response):
                heard.set()
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert heard.wait(10), "no heartbeat: the stream is not open"
    assert not ended.is_set()
    assert client.http.post("/v1/auth/logout").status_code == 204
    assert ended.wait(5), "the stream outlived its session"


def test_streams_per_user_are_limited_and_a_bad_last_event_id_is_refused(stack: Stack) -> None:
    api = stack.start_api(**STREAM, MAX_STREAMS_PER_USER="2")
    client = stack.client(api)
    with _open(client), _open(client):
        third = client.http.get("/v1/stream")
    assert third.status_code == 429
    assert third.headers["Retry-After"]
    assert third.json()["error"]["code"] == "too_many_streams"
    bad = client.http.get("/v1/stream", headers={"Last-Event-ID": "../1"})
    assert bad.status_code == 422
    assert "last-event-id" in bad.json()["error"]["message"]
