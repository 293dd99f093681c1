"""userq/cli/watch.py: `userq watch`: the history, then live; a line or a JSON line per state change."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from tests.unit.userq.cli.conftest import Userq
from tests.unit.userq.fake_api import FakeApi


def _run(api: FakeApi, userq: Userq, *payloads: dict[str, int]) -> list[str]:
    ids = [userq("submit", "demo.echo", "--payload", json.dumps(p)).stdout.strip() for p in payloads]
    for request_id, payload in zip(ids, payloads, strict=True):
        api.finish(request_id, result=payload)
    return ids


def test_watch_prints_the_history_and_follows(api: FakeApi, userq: Userq) -> None:
    userq.login()
    ids = _run(api, userq, {"n": 0}, {"n": 1})
    events = userq.lines("watch", "--json", "--count", "6")
    assert [e["id"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["status"] for e in events] == ["queued", "queued", "processing", "succeeded", "processing", "succeeded"]
    assert [e["request_id"] for e in events if e["status"] == "succeeded"] == ids
    assert events[-1]["result"] == {"n": 1}

    lines = userq("watch", "--last-event-id", "3", "--count", "1").stdout.splitlines()
    assert lines == [f'       4  2025-01-01T00:00:04Z  {ids[0]}  succeeded     demo.echo  {{"n":0}}']
    assert api.calls_to("GET", "/v1/stream")[-1].headers["Last-Event-ID"] == "3"


def test_watch_reconnects_when_the_stream_ends(api: FakeApi, userq: Userq, slept: list[float]) -> None:
    userq.login()
    _run(api, userq, {"n": 0})
    api.stream_cuts.append(1)  # the first connection breaks after one event
    events = userq.lines("watch", "--json", "--count", "3")
    assert [e["id"] for e in events] == [1, 2, 3]
    assert [c.headers.get("Last-Event-ID") for c in api.calls_to("GET", "/v1/stream")] == [None, "1"]
    assert slept == [1.0]


def test_ctrl_c_stops_watch_cleanly(api: FakeApi, userq: Userq) -> None:
    userq.login()
    [request_id] = _run(api, userq, {"n": 0})

    def interrupted() -> Iterator[bytes]:
        yield f"id: 1\nevent: request\ndata: {json.dumps(api.events[0])}\n\n".encode()
        raise KeyboardInterrupt

    api.script("GET", "/v1/stream", httpx.Response(200, content=interrupted()))
    stopped = userq("watch")
    assert stopped.stdout.split()[:4] == ["1", "2025-01-01T00:00:01Z", request_id, "queued"]
    assert stopped.stderr == "\n"


def test_watch_ends_with_the_session(api: FakeApi, userq: Userq) -> None:
    userq.login()
    api.sessions.clear()  # logged out elsewhere
    ended = userq("watch", code=1)
    assert "unauthorized, HTTP 401" in ended.stderr
