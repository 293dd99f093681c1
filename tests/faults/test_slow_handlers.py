"""Slow handlers hold nothing: no transaction stays open while a handler waits, a user whose requests
take seconds each holds up no one else on its partition, a handler past its deadline is a transient
failure, and a handler killed mid-call runs again with its database effect applied once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.checks import check
from harness.stack import Client, Stack
from tests.support.load import Load
from tests.support.waits import wait_until

pytestmark = pytest.mark.partitions(1)  # the slow user and everyone else share the one partition

SLOW, SLOW_MS = 7, 10_000
OTHERS, PER_OTHER = 8, 25


def _statuses(stack: Stack, user_id: str) -> list[tuple[str, int]]:
    with stack.db() as conn:
        return conn.execute(
            "select status, attempts from requests where user_id = %s order by sequence", (user_id,)
        ).fetchall()


def _open_transactions(stack: Stack, worker: str, older_than_s: float) -> int:
    """The worker's transactions open for longer than `older_than_s` right now."""
    with stack.db() as conn:
        row = conn.execute(
            """select count(*) from pg_stat_activity
                where application_name = %s and xact_start < clock_timestamp() - make_interval(secs => %s)""",
            (worker, older_than_s),
        ).fetchone()
    assert row is not None
    count: int = row[0]
    return count


def test_a_batch_of_ten_second_requests_holds_up_no_one_on_its_partition(stack: Stack, api: str) -> None:
    # a transaction idle for 5 s is ended by PostgreSQL: a worker that held one across a 10 s handler
    # would see its batch killed and run again for ever, and everyone on the partition would wait
    worker = stack.start_worker(DB_IDLE_IN_TRANSACTION_TIMEOUT_S="5")
    slow = stack.client(api)
    response = slow.http.post(
        "/v1/requests/batch", json={"requests": [{"type": "demo.sleep", "payload": {"ms": SLOW_MS}}] * SLOW}
    )
    assert response.status_code == 202, response.text
    slow_ids = [view["request_id"] for view in response.json()["requests"]]

    others = [stack.client(api) for _ in range(OTHERS)]
    plans = [[("demo.echo", {"i": i}) for i in range(PER_OTHER)] for _ in others]
    load = Load(others, plans, tolerate_refusals=False, pace_s=0.05)
    held_open: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.5):
            held_open.append(_open_transactions(stack, worker.name, 2.0))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load.start()
    load.join()
    # everyone else is done while the slow user is still on its first requests
    stack.wait_terminal(OTHERS * PER_OTHER, timeout=60, pending=SLOW)
    slow_now = _statuses(stack, slow.user_id)
    assert slow_now[-1][0] in ("queued", "processing"), slow_now

    stack.wait_terminal(OTHERS * PER_OTHER + SLOW, timeout=SLOW * SLOW_MS / 1000 + 60)
    sampling.set()
    sampler.join()
    assert _statuses(stack, slow.user_id) == [("succeeded", 1)] * SLOW  # each ran once, none was retried
    assert held_open and max(held_open) == 0, held_open  # no transaction stayed open across a handler
    assert check(stack, {**load.accepted, slow.user_id: slow_ids}).problems == []


def test_an_attempt_past_its_deadline_is_retried_then_dead_lettered_with_its_cause(stack: Stack, api: str) -> None:
    stack.start_worker(HANDLER_TIMEOUT_S="0.5", MAX_ATTEMPTS="2", RETRY_BASE_DELAY_S="0.05")
    client = stack.client(api)
    stuck = client.submit("demo.sleep", {"ms": 5_000})["request_id"]
    after = client.submit("demo.echo", {"after": True})["request_id"]
    other = stack.client(api).submit("demo.echo", {"other": True})["request_id"]
    stack.wait_terminal(3, timeout=30)

    view = client.http.get(f"/v1/requests/{stuck}").json()
    assert (view["status"], view["attempts"]) == ("dead_lettered", 2)
    assert view["error"]["cause"] == "max_attempts"
    assert view["error"]["exception"] == "HandlerTimeout"
    assert "timeout of 0.5 s" in view["error"]["message"]
    assert client.http.get(f"/v1/requests/{after}").json()["status"] == "succeeded"  # the queue moved on
    with stack.db() as conn:
        events = conn.execute(
            "select status, error->>'exception' from request_events where request_id = %s and status <> 'queued'"
            " order by seq",
            (stuck,),
        ).fetchall()
        assert conn.execute("select status from requests where request_id = %s", (other,)).fetchone() == ("succeeded",)
    assert events == [
        ("processing", None),
        ("retrying", "HandlerTimeout"),
        ("processing", None),
        ("dead_lettered", "HandlerTimeout"),
    ]


def test_a_handler_killed_mid_call_runs_again_and_its_database_effect_applies_once(
    stack: Stack, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    runs.touch()
    env = {"HANDLER_MODULES": json.dumps(["request_types.builtin", "tests.support.handlers"])}
    api = stack.start_api(**env)
    victim = stack.start_worker(**env, USERQ_TEST_RUNS_FILE=str(runs))
    client: Client = stack.client(api)
    charge = client.submit("test.charge", {"amount": 40, "wait_ms": 3_000})["request_id"]
    wait_until(lambda: runs.read_text().count(charge) == 1, 30, "the handler's first run")
    victim.kill()  # SIGKILL while the handler waits: nothing of it was recorded

    stack.start_worker(**env, USERQ_TEST_RUNS_FILE=str(runs))
    stack.wait_terminal(1, timeout=60)
    assert runs.read_text().count(charge) == 2  # the handler ran twice
    view = client.http.get(f"/v1/requests/{charge}").json()
    assert view["status"] == "succeeded"
    assert view["result"] == {"charged": 40, "ok": True, "balance": 40}
    with stack.db() as conn:
        assert conn.execute("select balance from ledger_accounts where user_id = %s", (client.user_id,)).fetchone() == (
            40,
        )
        assert conn.execute("select count(*) from ledger_entries where request_id = %s", (charge,)).fetchone() == (1,)
