"""The soak's short form (`make soak` is the long one): a few minutes of mixed load from many users with
every fault of the schedule, closer together (a worker SIGKILLed every 30 s, the broker and PostgreSQL
restarted, a rebalance storm). It asserts behaviour only: the checker finds nothing, and every fault was
struck. The figures (windows, flatness) are the long run's to report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import soak
from bench.soak_plan import BROKER, KILL, POSTGRES, STORM
from harness.services import Services
from tests.support.scenario import RESULTS

RATE = 40.0  # requests/s, given: the short form does not measure the maximum
SHORT = soak.Config(
    minutes=3,
    window_minutes=1,
    rate=RATE,
    users=40,
    kill_every_s=30,
    broker_down_s=6,
    postgres_down_s=10,
    storm_workers=2,
    sleep_ms=100,
    sample_every_s=2,
    drain_timeout_s=300,
)


def test_a_short_soak_with_every_fault_loses_duplicates_and_reorders_nothing(
    services: Services, tmp_path: Path
) -> None:
    if not services.native:
        pytest.fail("the soak stops and restarts Kafka and PostgreSQL: run it with the infra/local services")
    results = soak.run(services, tmp_path, SHORT)
    checker = results["checker"]
    RESULTS.append(
        f"soak {SHORT.minutes:g} min at {RATE:g}/s: lost={checker['lost']} duplicated={checker['duplicated']}"
        f" order_violations={checker['order_violations']} accepted={checker['accepted']}"
        f" faults={len(results['faults'])}"
    )
    assert results["errors"] == {}, soak.table(results)
    assert checker["problems"] == [], soak.table(results)
    assert (checker["lost"], checker["duplicated"], checker["order_violations"]) == (0, 0, 0)
    assert checker["accepted"] > 0.9 * RATE * SHORT.duration_s, "the load did not run its course"
    assert {fault["kind"] for fault in results["faults"]} == {KILL, BROKER, POSTGRES, STORM}
