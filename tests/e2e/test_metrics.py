"""A worker's Prometheus metrics, scraped from a real worker process: outcomes, batches, lag; no user labels."""

from __future__ import annotations

import time

import httpx

from tests.support.processes import free_port
from tests.support.stack import Stack


def _scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def test_a_worker_reports_outcomes_batches_and_lag_without_user_labels(stack: Stack, api: str) -> None:
    port = free_port()
    stack.start_worker(METRICS_PORT=str(port), OUTBOX_SWEEP_INTERVAL_S="0.5", RETRY_BASE_DELAY_S="0.05")
    client = stack.client(api)
    client.submit("demo.echo", {})
    client.submit("demo.flaky", {"fail_times": 1})
    client.submit("demo.poison", {})
    stack.wait_terminal(3, timeout=30)
    time.sleep(1.5)  # the lag is measured every OUTBOX_SWEEP_INTERVAL_S

    text = _scrape(port)
    for series in (
        'userq_worker_requests_total{outcome="succeeded",type="demo.echo"} 1.0',
        'userq_worker_requests_total{outcome="retrying",type="demo.flaky"} 1.0',
        'userq_worker_requests_total{outcome="succeeded",type="demo.flaky"} 1.0',
        'userq_worker_requests_total{outcome="dead_lettered",type="demo.poison"} 1.0',
        "userq_worker_batch_records_count",
        "userq_worker_end_to_end_seconds_bucket",
        "userq_worker_handler_seconds_bucket",
        "userq_worker_offset_commit_seconds_count",
        f'userq_worker_consumer_lag{{partition="0",topic="{stack.settings.requests_topic}"}} 0.0',
    ):
        assert series in text, series
    assert client.user_id not in text
