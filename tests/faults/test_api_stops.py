"""An API process frozen (SIGSTOP) inside the transaction that writes an acknowledged request's row, for
longer than PostgreSQL lets an API transaction sit idle: a worker that meets the record waits on that
uncommitted row only until PostgreSQL ends the transaction, so the other users whose records share the
partition keep completing while the API is frozen. The frozen acceptance's request runs once (the worker
writes its row from the record), whether the API then wakes up (SIGCONT) or dies (SIGKILL)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from harness.checks import check
from harness.processes import Process
from harness.stack import TERMINAL, Stack
from tests.support.waits import wait_until

# Longer than the API's idle_in_transaction_session_timeout, shorter than the old one (PRODUCE_TIMEOUT_S + 5 s).
FROZEN_FOR_AT_MOST_S = 8.0


@pytest.mark.partitions(1)  # the frozen user's records and everyone else's share the one partition
@pytest.mark.parametrize("then", [signal.SIGCONT, signal.SIGKILL], ids=["woken", "killed"])
def test_an_api_frozen_inside_its_rows_transaction_stalls_no_partition(stack: Stack, then: signal.Signals) -> None:
    stack.start_worker()
    frozen_url = stack.start_api(FAULT_STOP_IN_ROWS_TX="3")
    frozen = stack.processes[-1]
    other_url = stack.start_api()
    user = stack.client(frozen_url)
    accepted = {user.user_id: [user.submit("ledger.deposit", {"amount": n})["request_id"] for n in (1, 2)]}

    answers: list[httpx.Response | httpx.TransportError] = []

    def third() -> None:  # acknowledged by the broker, then its process freezes before the rows commit
        try:
            body = {"type": "ledger.deposit", "payload": {"amount": 4}}
            answers.append(user.http.post("/v1/requests", json=body, timeout=60))
        except httpx.TransportError as exc:
            answers.append(exc)

    submitting = threading.Thread(target=third)
    submitting.start()
    try:
        wait_until(lambda: _stopped(frozen), 30, "the API to freeze inside its rows' transaction")
        others = [stack.client(other_url) for _ in range(4)]
        for client in others:
            accepted[client.user_id] = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(3)]
        wait_until(
            lambda: _terminal(stack, [c.user_id for c in others]) == 3 * len(others),
            FROZEN_FOR_AT_MOST_S,
            "the other users' requests on the same partition done while the API is frozen",
        )
        wait_until(
            lambda: _terminal(stack, [user.user_id]) == 3,
            FROZEN_FOR_AT_MOST_S,
            "the frozen acceptance's request written by the worker from its record, and run",
        )
        assert _stopped(frozen), "the API was frozen all along"
    finally:
        frozen.signal(then)
    submitting.join(60)

    [answer] = answers
    if then == signal.SIGCONT:  # it wakes up to a transaction PostgreSQL has ended: accepted all the same
        assert isinstance(answer, httpx.Response) and answer.status_code == 202, answer
        accepted[user.user_id].append(answer.json()["request_id"])
    else:
        assert isinstance(answer, httpx.TransportError), answer
    assert "fault injection: SIGSTOP" in frozen.log_path.read_text()
    stack.wait_terminal(15)
    report = check(stack, accepted)
    assert report.problems == [], report.summary()
    with stack.db() as conn:
        assert conn.execute("select balance from ledger_accounts").fetchall() == [(7,)], "1 + 2 + 4, each once"


def _stopped(process: Process) -> bool:
    """Is the process stopped (state T in /proc)?"""
    stat = Path(f"/proc/{process.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def _terminal(stack: Stack, user_ids: list[str]) -> int:
    with stack.db() as conn:
        row = conn.execute(
            "select count(*) from requests where user_id = any(%s::uuid[]) and status = any(%s)",
            (user_ids, list(TERMINAL)),
        ).fetchone()
    assert row is not None
    count: int = row[0]
    return count
