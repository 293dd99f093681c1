"""Logs: JSON lines with the same keys in every process; the trace id travels API → worker → results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.checks import read_messages
from harness.stack import Stack
from schemas import records as wire

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
KEYS = {"request_id", "user_id", "trace_id", "topic", "partition", "offset"}


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_a_trace_id_travels_from_the_api_through_the_worker_to_the_results(stack: Stack) -> None:
    api_url = stack.start_api(LOG_LEVEL="info")
    worker = stack.start_worker(LOG_LEVEL="debug", **{"RETRY_BASE_DELAY_S": "0.05"})  # successes log at debug
    client = stack.client(api_url)
    response = client.http.post(
        "/v1/requests",
        json={"type": "demo.flaky", "payload": {"fail_times": 1}},
        headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 202
    assert response.headers["X-Trace-Id"] == TRACE
    request_id = response.json()["request_id"]
    stack.wait_terminal(1)

    api = next(p for p in stack.processes if p.name.startswith("api"))
    [accepted] = [line for line in _lines(api.log_path) if line.get("event") == "accepted"]
    assert accepted.keys() >= KEYS
    assert (accepted["request_id"], accepted["user_id"], accepted["trace_id"]) == (request_id, client.user_id, TRACE)
    assert accepted["topic"] == stack.settings.requests_topic

    mine = [line for line in _lines(worker.log_path) if line.get("request_id") == request_id]
    assert [line["event"] for line in mine] == ["attempt failed; retry scheduled", "request succeeded"]
    for line in mine:
        assert KEYS | {"attempt", "worker"} <= line.keys(), line
        assert (line["trace_id"], line["user_id"], line["worker"]) == (TRACE, client.user_id, worker.name)
    assert [line["attempt"] for line in mine] == [1, 2]
    assert mine[0]["topic"] == stack.settings.requests_topic
    assert mine[1]["topic"] == stack.settings.retry_topic  # the retry came back as a wake-up

    [result] = read_messages(stack, stack.settings.results_topic)
    assert result.headers[wire.TRACE_HEADER] == TRACE
    assert json.loads(result.value or b"")["trace_id"] == TRACE


def test_a_new_trace_id_when_the_client_sends_none_or_a_bad_one(stack: Stack, api: str) -> None:
    client = stack.client(api)
    for headers in ({}, {"traceparent": "garbage"}, {"X-Trace-Id": "not-hex"}):
        response = client.http.get("/v1/queue", headers=headers)
        assert len(response.headers["X-Trace-Id"]) == 32
        assert response.headers["X-Trace-Id"] != TRACE
    given = client.http.get("/v1/queue", headers={"X-Trace-Id": TRACE})
    assert given.headers["X-Trace-Id"] == TRACE
