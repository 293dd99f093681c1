"""The broker and the database stopped and restarted under load (the native services of infra/local)."""

from __future__ import annotations

import time

import pytest

from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, run_scenario
from tests.support.services import native_script
from tests.support.stack import Stack


@pytest.fixture(autouse=True)
def _restartable(stack: Stack) -> None:
    if not stack.services.native:
        pytest.fail("outage scenarios stop and restart Kafka and PostgreSQL: run them with the infra/local services")


def test_kafka_restart_under_load(stack: Stack) -> None:
    api = stack.start_api(PRODUCE_TIMEOUT_S="3")
    stack.start_worker(**FAST_RETRIES)
    stack.start_worker(**FAST_RETRIES)

    def inject(load: Load) -> int:
        time.sleep(2)
        native_script("kafka.sh", "stop")
        time.sleep(6)
        native_script("kafka.sh", "start")
        return 1

    outcome = run_scenario(stack, api, "kafka stopped and restarted", inject, per_user=100, users=4, pace_s=0.05)
    assert outcome.report.problems == []
    assert outcome.refused > 0, "the API should have answered 503 while the broker was down"


def test_postgres_restart_under_load(stack: Stack) -> None:
    api = stack.start_api()
    stack.start_worker(**FAST_RETRIES)
    stack.start_worker(**FAST_RETRIES)

    def inject(load: Load) -> int:
        time.sleep(2)
        native_script("postgres.sh", "stop")
        time.sleep(3)
        native_script("postgres.sh", "start")
        return 1

    outcome = run_scenario(stack, api, "postgres stopped and restarted", inject, per_user=100, users=4, pace_s=0.05)
    assert outcome.report.problems == []
    assert outcome.refused > 0, "the API should have answered 503 while the database was down"
