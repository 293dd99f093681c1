"""The broker and the database stopped and restarted under load (the native services of infra/local).

While one is down the API answers 503 (nothing is accepted that is not durable) and the workers wait;
when it is back, everything accepted completes, in order, once.
"""

from __future__ import annotations

import time

import pytest

from harness.services import native_script
from harness.stack import Stack
from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, progress, run_scenario


@pytest.mark.parametrize(("script", "down_s"), [("kafka.sh", 6.0), ("postgres.sh", 3.0)], ids=["kafka", "postgres"])
def test_restart_under_load(stack: Stack, script: str, down_s: float) -> None:
    if not stack.services.native:
        pytest.fail("outage scenarios stop and restart Kafka and PostgreSQL: run them with the infra/local services")
    api = stack.start_api(PRODUCE_TIMEOUT_S="3")
    stack.start_worker(**FAST_RETRIES)
    stack.start_worker(**FAST_RETRIES)

    def inject(load: Load) -> int:
        progress(stack)  # under load: requests in flight when the service goes
        native_script(script, "stop")
        time.sleep(down_s)
        native_script(script, "start")
        return 1

    name = f"{script.removesuffix('.sh')} stopped {down_s:.0f} s and restarted"
    outcome = run_scenario(stack, api, name, inject, per_user=100, users=4, pace_s=0.05)
    assert outcome.report.problems == []
    assert outcome.refused > 0, "the API should have answered 503 while it was down"
