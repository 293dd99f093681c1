"""Workers killed with SIGKILL: repeatedly mid-batch, and exactly between the PostgreSQL commit and the
offset commit. Nothing accepted is lost, no effect is applied twice, every user's order holds."""

from __future__ import annotations

import random
import signal

from harness.processes import Process
from harness.stack import Stack
from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, progress, run_scenario

KILLS = 5


def test_five_sigkills_mid_batch_under_load(stack: Stack, api: str) -> None:
    workers = [stack.start_worker(**FAST_RETRIES) for _ in range(2)]
    rng = random.Random(5)

    def inject(load: Load) -> int:
        # the plans are longer than the scenario: the load runs until the last kill has been survived, so
        # every kill lands mid-batch however fast the workers are
        try:
            for _ in range(KILLS):
                progress(stack)
                assert not load.finished, "the load ended before the kills"
                victim = rng.choice([w for w in workers if w.alive()])
                victim.kill()
                workers.append(stack.start_worker(**FAST_RETRIES))
            progress(stack)
        finally:
            load.stop()
        return KILLS

    outcome = run_scenario(stack, api, "sigkill x5 mid-batch", inject, per_user=2000)
    assert outcome.report.problems == []
    assert outcome.faults == KILLS


def test_sigkill_between_the_database_commit_and_the_offset_commit(stack: Stack, api: str) -> None:
    victim = stack.start_worker(FAULT_KILL_AFTER_DB_COMMITS="3", **FAST_RETRIES)
    stack.start_worker(**FAST_RETRIES)

    def inject(load: Load) -> int:
        victim.popen.wait(60)
        assert victim.popen.returncode == -signal.SIGKILL
        stack.start_worker(**FAST_RETRIES)
        return 1

    outcome = run_scenario(stack, api, "sigkill after db commit", inject)
    assert outcome.report.problems == []
    assert "fault injection" in victim.log_path.read_text()
    assert _replayed(stack.processes), "the records of the killed batch were not read again"


def _replayed(processes: list[Process]) -> bool:
    return any("already done" in p.log_path.read_text() for p in processes if p.name.startswith("worker"))
