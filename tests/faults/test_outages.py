"""The broker and the database stopped and restarted under load (the native services of infra/local).

While the broker is down the API answers 503 (nothing is accepted that is not durable); while
PostgreSQL is down the API goes on accepting (acceptance needs the broker only) and the workers wait.
When it is back, everything accepted completes, in order, once.
"""

from __future__ import annotations

import time

import pytest

from harness.services import native_script
from harness.stack import Stack
from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, progress, run_scenario
from tests.support.waits import wait_until

POSTGRES_DOWN_S = 60.0


def _native(stack: Stack) -> None:
    if not stack.services.native:
        pytest.fail("outage scenarios stop and restart Kafka and PostgreSQL: run them with the infra/local services")


def test_the_broker_stopped_under_load(stack: Stack) -> None:
    _native(stack)
    api = stack.start_api(PRODUCE_TIMEOUT_S="3")
    stack.start_worker(**FAST_RETRIES)
    stack.start_worker(**FAST_RETRIES)

    def inject(load: Load) -> int:
        progress(stack)  # under load: requests in flight when the service goes
        native_script("kafka.sh", "stop")
        time.sleep(6)
        native_script("kafka.sh", "start")
        return 1

    outcome = run_scenario(stack, api, "kafka stopped 6 s and restarted", inject, per_user=100, users=4, pace_s=0.05)
    assert outcome.report.problems == []
    assert outcome.refused > 0, "the API should have answered 503 while it was down"


def test_postgres_stopped_60_s_under_load_stops_no_acceptance(stack: Stack) -> None:
    _native(stack)
    api = stack.start_api()
    stack.start_worker(**FAST_RETRIES)
    stack.start_worker(**FAST_RETRIES)
    watcher, neighbour = stack.client(api), stack.client(api)
    for client in (watcher, neighbour):
        client.submit("demo.echo", {})  # their sessions known to the API before PostgreSQL goes

    def inject(load: Load) -> int:
        progress(stack)  # under load: requests in flight when the database goes
        native_script("postgres.sh", "stop")
        down_at = time.monotonic()
        try:
            before = load.total
            wait_until(lambda: load.total >= before + 100 or None, 30, "100 requests accepted with PostgreSQL away")
            mine = watcher.submit("demo.echo", {"while": "postgres away"})
            read = watcher.http.get(f"/v1/requests/{mine['request_id']}")
            assert read.status_code == 200 and read.json()["status"] == "queued", read.text  # read-your-writes
            theirs = neighbour.http.get(f"/v1/requests/{mine['request_id']}")
            assert theirs.status_code == 503, "another user's request is not read from memory"
            time.sleep(max(0.0, POSTGRES_DOWN_S - (time.monotonic() - down_at)))  # the outage's length
        finally:
            native_script("postgres.sh", "start")
        return 1

    name = f"postgres stopped {POSTGRES_DOWN_S:.0f} s and restarted"
    # about 90 s of load at ~16 requests/s: before, during and after the outage
    outcome = run_scenario(stack, api, name, inject, per_user=360, users=4, pace_s=0.25)
    assert outcome.report.problems == []
    assert outcome.refused == 0, "acceptance needs the broker only: nothing should have been refused"
