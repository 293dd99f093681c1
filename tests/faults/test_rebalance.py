"""Rebalance churn and a zombie: workers join and leave every few seconds; a worker frozen past the poll
interval wakes up after its partitions moved on and must not write over the new owner; runs cut off by
rebalances are not crashes."""

from __future__ import annotations

import functools
import json
import signal
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from harness.checks import read_messages
from harness.processes import Process
from harness.stack import Stack
from tests.support.handlers import RUNS_FILE
from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, progress, run_scenario
from tests.support.waits import wait_until

# A frozen worker is noticed in seconds, and its transaction does not hold users' locks for long.
QUICK_GROUP = {"SESSION_TIMEOUT_MS": "6000", "MAX_POLL_INTERVAL_MS": "10000", "DB_IDLE_IN_TRANSACTION_TIMEOUT_S": "4"}


def test_workers_join_and_leave_every_few_seconds_with_malformed_records(stack: Stack, api: str) -> None:
    workers = [stack.start_worker(**FAST_RETRIES)]
    garbage = Producer({"bootstrap.servers": stack.services.kafka})

    def inject(load: Load) -> int:
        changes = 0
        for round_ in range(8):
            time.sleep(1.5)
            garbage.produce(stack.settings.requests_topic, b"\x00 not a request %d" % round_, b"nobody")
            garbage.flush(10)
            if round_ % 3 == 2 and len([w for w in workers if w.alive()]) > 1:
                leaving = next(w for w in workers if w.alive())
                leaving.stop()
            else:
                workers.append(stack.start_worker(**FAST_RETRIES))
            changes += 1
        return changes

    outcome = run_scenario(stack, api, "rebalance churn + malformed records", inject, per_user=120)
    assert outcome.report.problems == []
    unreadable = [
        m for m in read_messages(stack, stack.settings.dlq_topic) if m.headers.get("userq.dlq.cause") == "unprocessable"
    ]
    assert {m.value for m in unreadable} == {b"\x00 not a request %d" % n for n in range(8)}


def test_a_zombie_worker_does_not_write_over_the_new_owner(stack: Stack, api: str) -> None:
    zombie = stack.start_worker(**FAST_RETRIES, **QUICK_GROUP)
    survivor = stack.start_worker(**FAST_RETRIES, **QUICK_GROUP)
    topics = (stack.settings.requests_topic, stack.settings.retry_topic)

    def inject(load: Load) -> int:
        progress(stack)  # mid-work: the zombie holds records and users' locks
        zombie.signal(signal.SIGSTOP)
        frozen = time.monotonic()
        every = {f"{topic}[{p}]" for topic in topics for p in range(stack.settings.request_partitions)}
        try:
            wait_until(lambda: _owned(survivor) == every, 60, "the group moving on: the survivor owning all")
        except AssertionError as exc:  # say why: a survivor stuck on the zombie's locks stops polling
            raise AssertionError(f"{exc}\n--- survivor (alive: {survivor.alive()})\n{survivor.tail(20)}") from None
        poll_interval_s = int(QUICK_GROUP["MAX_POLL_INTERVAL_MS"]) / 1000
        time.sleep(max(0.0, poll_interval_s + 1 - (time.monotonic() - frozen)))  # the fault: frozen past it too
        zombie.signal(signal.SIGCONT)
        return 1

    outcome = run_scenario(stack, api, "zombie (SIGSTOP past the poll interval)", inject, per_user=150)
    assert outcome.report.problems == []
    assert "partitions lost" in zombie.log_path.read_text() or "revoked" in zombie.log_path.read_text()
    assert survivor.alive()


def _owned(worker: Process) -> set[str]:
    """The partitions `worker` owns now, by its log: assigned, and not revoked or lost since."""
    owned: set[str] = set()
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue  # not one of ours
        event = orjson.loads(line)
        if event.get("event") == "partitions assigned":
            owned |= set(event["partitions"])
        elif event.get("event") in ("partitions revoked", "partitions lost"):
            owned -= set(event["partitions"])
    return owned


@pytest.mark.partitions(1)  # every rebalance moves one of the two partitions (requests, retry)
def test_runs_cut_off_by_rebalances_are_not_taken_for_crashes(stack: Stack, tmp_path: Path) -> None:
    """A worker gives up what runs when the group rebalances (it reads its partitions again) or when it
    stops past its grace; that is no crash. A request cut off more often than MAX_RECORD_CRASHES runs again
    as usual, not alone as a suspect, and succeeds once."""
    runs = tmp_path / "runs"
    types = {"HANDLER_MODULES": json.dumps(["request_types.builtin", "tests.support.handlers"])}
    env = {**types, RUNS_FILE: str(runs), "MAX_RECORD_CRASHES": "2", "SHUTDOWN_GRACE_S": "1"}
    workers = [stack.start_worker(**env)]
    client = stack.client(stack.start_api(**types))
    request_id = client.submit("test.charge", {"amount": 5, "wait_ms": 8000})["request_id"]

    def ran(times: int) -> bool:
        status = client.http.get(f"/v1/requests/{request_id}").json()["status"]
        assert status in ("queued", "processing"), f"after {_lines(runs)} runs: {status}"
        return _lines(runs) >= times

    wait_until(lambda: ran(1), 60, "the request running")
    for _ in range(3):
        before = _lines(runs)
        joiner = stack.start_worker(**env)  # the group rebalances: what runs is given up, and runs again
        workers.append(joiner)
        wait_until(functools.partial(ran, before + 1), 60, "the request running again after the rebalance")
        joiner.stop()  # and once more when the joiner was the one running it (past its grace)
    wait_until(lambda: client.http.get(f"/v1/requests/{request_id}").json()["completed_at"], 60, "the request done")
    done = client.http.get(f"/v1/requests/{request_id}").json()
    assert (done["status"], done["attempts"], done["error"]) == ("succeeded", 1, None)
    assert _lines(runs) >= 4  # cut off at least three times
    assert not [w.name for w in workers if "running alone" in w.log_path.read_text()], "none ran it as a suspect"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0
