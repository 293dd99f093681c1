"""End to end on real Kafka and PostgreSQL: 8 users x 100 requests, interleaved, two worker processes."""

from __future__ import annotations

import random

from harness.checks import check
from harness.mix import ledger_mix
from harness.stack import Stack
from tests.support.load import submit_all

USERS = 8
PER_USER = 100


def test_every_request_succeeds_in_per_user_order_with_serial_ledger(stack: Stack, api: str) -> None:
    stack.start_worker()
    stack.start_worker()
    rng = random.Random(2)
    clients = [stack.client(api) for _ in range(USERS)]

    accepted = submit_all(clients, [ledger_mix(rng, PER_USER) for _ in clients])
    stack.wait_terminal(USERS * PER_USER)

    report = check(stack, accepted)
    assert report.problems == []
    assert report.terminal == USERS * PER_USER
    assert report.by_status == {"succeeded": USERS * PER_USER}
