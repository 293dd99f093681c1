"""SIGTERM mid-run: the worker finishes its batch, commits, leaves the group; nothing is read twice."""

from __future__ import annotations

import random
import signal
import threading
import time

from tests.support.checks import check
from tests.support.load import ledger_mix, submit_all
from tests.support.stack import Stack

USERS = 6
PER_USER = 60


def test_sigterm_drains_cleanly_without_redelivery(stack: Stack, api: str) -> None:
    leaving = stack.start_worker()
    staying = stack.start_worker()
    rng = random.Random(4)
    clients = [stack.client(api) for _ in range(USERS)]
    plans = [ledger_mix(rng, PER_USER, sleep_ms=5) for _ in clients]
    result: dict[str, dict[str, list[str]]] = {}
    submitter = threading.Thread(target=lambda: result.update(accepted=submit_all(clients, plans)))
    submitter.start()
    time.sleep(2)

    leaving.signal(signal.SIGTERM)
    assert leaving.popen.wait(30) == 0
    submitter.join()
    stack.wait_terminal(USERS * PER_USER)

    report = check(stack, result["accepted"])
    assert report.problems == []
    for worker in (leaving, staying):
        log = worker.log_path.read_text()
        assert "already done" not in log, f"{worker.name} re-read records that were done"
    assert "worker stopped" in leaving.log_path.read_text()
