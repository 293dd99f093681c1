"""An API process killed with SIGKILL right after the broker acknowledged a request, before it wrote the
request's row or answered: Kafka accepted the request, so it runs, once, in its place in the user's order.
The client, which heard nothing, resends with its `Idempotency-Key` and learns the one request id."""

from __future__ import annotations

import signal

import httpx

from harness.stack import Stack
from tests.support.waits import wait_until


def test_a_request_acknowledged_by_the_broker_runs_once_when_the_api_dies_before_its_row(stack: Stack) -> None:
    stack.start_worker()
    victim_url = stack.start_api(FAULT_KILL_AFTER_ACKS="3")
    victim = stack.processes[-1]
    client = stack.client(victim_url)
    first = client.submit("ledger.deposit", {"amount": 1})
    second = client.submit("ledger.deposit", {"amount": 2})
    try:
        answer = client.http.post(
            "/v1/requests", json={"type": "ledger.deposit", "payload": {"amount": 4}}, headers={"Idempotency-Key": "k3"}
        )
        raise AssertionError(f"the API answered although it was to die: {answer.status_code} {answer.text}")
    except httpx.TransportError:
        pass  # no answer: the client cannot know whether it was accepted
    victim.popen.wait(30)
    assert victim.popen.returncode == -signal.SIGKILL
    assert "fault injection" in victim.log_path.read_text()

    survivor = stack.start_api()
    client.http.base_url = httpx.URL(survivor)
    resent = client.submit("ledger.deposit", {"amount": 4}, **{"Idempotency-Key": "k3"})
    fourth = client.submit("ledger.deposit", {"amount": 8})
    stack.wait_terminal(4)

    with stack.db() as conn:
        rows = conn.execute("select request_id::text, status, processed_seq from requests order by sequence").fetchall()
        entries = conn.execute("select count(*) from ledger_entries").fetchone()
        balance = conn.execute("select balance from ledger_accounts").fetchone()
    expected = [first["request_id"], second["request_id"], resent["request_id"], fourth["request_id"]]
    assert rows == [(request_id, "succeeded", n) for n, request_id in enumerate(expected, 1)]
    assert (entries, balance) == ((4,), (15,)), "the acknowledged request ran once: 1 + 2 + 4 + 8"
    found = wait_until(
        lambda: client.http.get(f"/v1/requests/{resent['request_id']}").json()["status"] == "succeeded",
        30,
        "the resent request to be readable as done",
    )
    assert found
