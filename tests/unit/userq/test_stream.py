"""userq/stream.py: the live stream followed across its ends and breaks, by `Last-Event-ID`, with the
server's `retry` and backoff between connections, until the session ends."""

from __future__ import annotations

import itertools

import httpx
import pytest

from tests.unit.userq.fake_api import URL, FakeApi, refusal
from userq.client import Client
from userq.errors import ApiError, TransportFailed, UnexpectedResponse
from userq.tokens import MemoryTokens


def _submit(client: Client, api: FakeApi, *numbers: int) -> list[str]:
    """Requests that run to success: three events each (queued, processing, succeeded)."""
    ids = [client.submit("demo.echo", {"n": n})["request_id"] for n in numbers]
    for request_id, n in zip(ids, numbers, strict=True):
        api.finish(request_id, result={"n": n})
    return ids


def _last_event_ids(api: FakeApi) -> list[str | None]:
    return [call.headers.get("Last-Event-ID") for call in api.calls_to("GET", "/v1/stream")]


def test_the_events_in_order_with_their_data(api: FakeApi, client: Client) -> None:
    submitted = _submit(client, api, 0, 1)
    events = client.stream()
    got = list(itertools.islice(events, 6))
    events.close()
    assert [e.id for e in got] == [1, 2, 3, 4, 5, 6]
    assert {e.event for e in got} == {"request"}
    assert [e.data["seq"] for e in got] == [1, 2, 3, 4, 5, 6]
    assert [(e.data["request_id"], e.data["status"]) for e in got] == [
        (submitted[0], "queued"),
        (submitted[1], "queued"),
        (submitted[0], "processing"),
        (submitted[0], "succeeded"),
        (submitted[1], "processing"),
        (submitted[1], "succeeded"),
    ]
    assert got[-1].data["result"] == {"n": 1}
    [call] = api.calls_to("GET", "/v1/stream")
    assert call.headers["Accept"] == "text/event-stream"
    assert "Last-Event-ID" not in call.headers


def test_an_ended_stream_is_reconnected_after_the_last_event_seen(
    api: FakeApi, client: Client, slept: list[float]
) -> None:
    submitted = _submit(client, api, 0)
    events = client.stream()
    head = list(itertools.islice(events, 3))
    submitted += _submit(client, api, 1)  # the server ends this connection at its maximum duration: reconnect
    tail = list(itertools.islice(events, 3))
    events.close()
    got = head + tail
    assert [e.id for e in got] == list(range(1, 7))
    assert [e.data["request_id"] for e in got if e.data["status"] == "succeeded"] == submitted
    assert _last_event_ids(api) == [None, "3"]
    assert slept == [1.0]  # the default retry


def test_the_stream_starts_after_a_given_event_and_keeps_the_servers_retry(
    api: FakeApi, client: Client, slept: list[float]
) -> None:
    _submit(client, api, 0, 1)
    api.retry_ms = 2500
    events = client.stream(last_event_id=4)
    assert [e.id for e in itertools.islice(events, 2)] == [5, 6]
    _submit(client, api, 2)
    assert next(events).id == 7
    events.close()
    assert _last_event_ids(api) == ["4", "6"]
    assert slept == [2.5]


def test_a_broken_connection_is_reconnected_without_missing_or_repeating_an_event(
    api: FakeApi, client: Client, slept: list[float]
) -> None:
    _submit(client, api, 0, 1)
    api.stream_cuts.extend([2, 4])  # the first connection breaks after 2 events, the second goes silent after 4
    events = client.stream()
    got = list(itertools.islice(events, 6))
    _submit(client, api, 2)
    got += itertools.islice(events, 3)
    events.close()
    assert [e.id for e in got] == list(range(1, 10))
    assert _last_event_ids(api) == [None, "2", "6"]
    assert slept == [1.0, 1.0]  # each connection answered: no backoff


def test_failed_connections_back_off_and_the_last_failure_is_raised(
    api: FakeApi, client: Client, slept: list[float]
) -> None:
    _submit(client, api, 0)
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    api.script("GET", "/v1/stream", refused, refused, refused)
    events = client.stream()
    assert next(events).id == 1
    assert slept == [1.0, 2.0, 4.0]

    api.script("GET", "/v1/stream", *[refused] * 4)
    with pytest.raises(TransportFailed, match="cannot reach"):
        list(client.stream(max_failures=4))
    assert slept[3:] == [1.0, 2.0, 4.0]  # three waits between four tries


def test_the_wait_is_capped(api: FakeApi, client: Client, slept: list[float]) -> None:
    _submit(client, api, 0)
    api.script("GET", "/v1/stream", *[httpx.ConnectTimeout("timed out")] * 7)
    assert next(client.stream()).id == 1
    assert slept == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_an_unavailable_api_is_waited_for_as_its_retry_after_says(
    api: FakeApi, client: Client, slept: list[float]
) -> None:
    _submit(client, api, 0)
    api.script("GET", "/v1/stream", refusal(503, "unavailable", "draining", {"Retry-After": "5"}))
    assert next(client.stream()).id == 1
    assert slept == [5.0]
    api.script("GET", "/v1/stream", refusal(503, "unavailable", "draining"))  # no Retry-After: raised
    with pytest.raises(ApiError) as unavailable:
        next(client.stream())
    assert unavailable.value.status == 503


def test_the_stream_ends_with_the_session(api: FakeApi, client: Client) -> None:
    _submit(client, api, 0)
    events = client.stream()
    assert next(events).id == 1
    tokens = client.tokens.load()
    assert tokens is not None
    with Client(URL, MemoryTokens(tokens), transport=api.transport) as other:
        other.logout()
    api.stream_cuts.append(0)  # the server drops the connection; the reconnection is refused
    with pytest.raises(ApiError) as ended:
        list(events)
    assert (ended.value.status, ended.value.code) == (401, "unauthorized")
    assert client.tokens.load() is None


def test_an_event_whose_data_is_not_json_is_unexpected(api: FakeApi, client: Client) -> None:
    body = b'id: 1\nevent: request\ndata: {"seq": 1}\n\nid: 2\nevent: request\ndata: {broken\n\n'
    api.script("GET", "/v1/stream", httpx.Response(200, content=body))
    events = client.stream()
    assert next(events).data["seq"] == 1
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        next(events)
