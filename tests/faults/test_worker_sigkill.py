"""A worker killed with SIGKILL in the middle of a run, then restarted: nothing lost, nothing applied twice."""

from __future__ import annotations

import random
import threading
import time

from tests.support.checks import check
from tests.support.load import ledger_mix, submit_all
from tests.support.stack import Stack

USERS = 8
PER_USER = 100


def _terminal(stack: Stack) -> int:
    with stack.db() as conn:
        row = conn.execute("select count(*) from requests where processed_seq is not null").fetchone()
    assert row is not None
    count: int = row[0]
    return count


def test_sigkill_mid_run_loses_nothing_and_applies_nothing_twice(stack: Stack, api: str) -> None:
    victim = stack.start_worker()
    stack.start_worker()
    rng = random.Random(3)
    clients = [stack.client(api) for _ in range(USERS)]
    plans = [ledger_mix(rng, PER_USER, sleep_ms=5) for _ in clients]

    result: dict[str, dict[str, list[str]]] = {}
    submitter = threading.Thread(target=lambda: result.update(accepted=submit_all(clients, plans)))
    submitter.start()
    deadline = time.monotonic() + 60
    while _terminal(stack) < USERS * PER_USER // 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.kill()  # mid-batch: the run is a quarter done and both workers are busy
    assert _terminal(stack) < USERS * PER_USER, "the kill came too late to test anything"
    stack.start_worker()
    submitter.join()

    stack.wait_terminal(USERS * PER_USER)
    report = check(stack, result["accepted"])
    assert report.problems == []
    assert report.by_status == {"succeeded": USERS * PER_USER}
