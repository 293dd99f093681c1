"""SIGTERM mid-run: the worker finishes its batch, commits, leaves the group; nothing is read twice."""

from __future__ import annotations

import signal

import orjson

from harness.stack import Stack
from tests.support.load import Load
from tests.support.scenario import FAST_RETRIES, progress, run_scenario


def test_sigterm_drains_cleanly_without_redelivery(stack: Stack, api: str) -> None:
    leaving = stack.start_worker(**FAST_RETRIES)
    staying = stack.start_worker(**FAST_RETRIES)

    def inject(load: Load) -> int:
        progress(stack)  # mid-work: the load flows and the workers are busy
        leaving.signal(signal.SIGTERM)
        assert leaving.popen.wait(30) == 0
        return 1

    outcome = run_scenario(stack, api, "sigterm (clean drain)", inject, per_user=60)
    assert outcome.report.problems == []
    assert "worker stopped" in leaving.log_path.read_text()
    for worker in (leaving, staying):
        # Wake-ups still waiting for their due time are read again by the next owner (harmlessly); records
        # of the requests topic must not be: the leaving worker committed everything it had done.
        for line in worker.log_path.read_text().splitlines():
            if "already done" in line:
                assert orjson.loads(line)["topic"] == stack.settings.retry_topic, line
