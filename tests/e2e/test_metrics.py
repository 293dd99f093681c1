"""Prometheus metrics scraped from real API and worker processes: outcomes, retries, dead letters, batches,
lag, the queues' gauges; the API's produce latency, refusals and in-flight requests, summed over several
uvicorn processes. No label names a user."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client import multiprocess

from harness.processes import free_port
from harness.stack import Stack
from tests.support.references import value
from tests.support.waits import wait_until


def _scrape(url: str) -> str:
    response = httpx.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


def test_a_worker_reports_outcomes_batches_and_lag_without_user_labels(stack: Stack, api: str) -> None:
    port = free_port()
    stack.start_worker(METRICS_PORT=str(port), LAG_INTERVAL_S="0.5", RETRY_BASE_DELAY_S="0.05")
    client = stack.client(api)
    client.submit("demo.echo", {})
    client.submit("demo.flaky", {"fail_times": 1})
    client.submit("demo.poison", {})
    stack.wait_terminal(3, timeout=30)

    topic = stack.settings.requests_topic
    expected = (
        'userq_worker_requests_total{outcome="succeeded",type="demo.echo"} 1.0',
        'userq_worker_requests_total{outcome="retrying",type="demo.flaky"} 1.0',
        'userq_worker_requests_total{outcome="succeeded",type="demo.flaky"} 1.0',
        'userq_worker_requests_total{outcome="dead_lettered",type="demo.poison"} 1.0',
        'userq_worker_retries_total{type="demo.flaky"} 1.0',
        'userq_worker_retries_total{type="demo.echo"} 0.0',  # every registered type's series starts at 0
        'userq_worker_dead_letters_total{cause="permanent",type="demo.poison"} 1.0',
        'userq_worker_dead_letters_total{cause="max_attempts",type="demo.flaky"} 0.0',
        "userq_worker_batch_records_count",
        "userq_worker_end_to_end_seconds_bucket",
        "userq_worker_handler_seconds_bucket",
        "userq_worker_offset_commit_seconds_count",
        f'userq_worker_consumer_lag{{partition="0",topic="{topic}"}} 0.0',  # measured every LAG_INTERVAL_S
    )

    def reported() -> str | None:
        text = _scrape(f"http://127.0.0.1:{port}")
        return text if all(series in text for series in expected) else None

    text = wait_until(reported, 30, f"the worker reporting {expected}")
    records = sum(
        value(text, "userq_worker_records_total", topic=topic, partition=str(p)) or 0
        for p in range(stack.settings.request_partitions)
    )
    assert records == 3  # the three requests; the retry's wake-up is on the retry topic
    assert client.user_id not in text


def test_a_worker_reports_held_users_parked_requests_paused_queues_and_open_dead_letters(
    stack: Stack, api: str
) -> None:
    port = free_port()
    stack.start_worker(
        METRICS_PORT=str(port), QUEUE_METRICS_INTERVAL_S="0.3", DEAD_LETTER_POLICY="halt", RETRY_MAX_DELAY_S="600"
    )
    retrying = stack.client(api)
    retrying.submit("demo.flaky", {"fail_times": 100, "retry_after_s": 600})
    retrying.submit("demo.echo", {})
    retrying.submit("demo.echo", {})
    halted = stack.client(api)
    halted.submit("demo.poison", {})  # halts its user (DEAD_LETTER_POLICY=halt)
    halted.submit("demo.echo", {})
    paused = stack.client(api)
    assert paused.http.post("/v1/queue/pause").status_code == 200
    paused.submit("demo.echo", {})
    url = f"http://127.0.0.1:{port}"

    expected = {
        ("userq_held_users", ("reason", "retrying")): 1.0,
        ("userq_held_users", ("reason", "halted")): 1.0,
        ("userq_parked_requests", None): 4.0,  # two behind the retry, one behind the dead letter, one paused
        ("userq_paused_queues", None): 1.0,
        ("userq_open_dead_letters", None): 1.0,
    }

    def reported() -> bool:
        text = _scrape(url)
        return all(
            value(text, name, **dict([label] if label else [])) == count for (name, label), count in expected.items()
        )

    wait_until(reported, 30, f"the worker reporting {expected}")


def test_the_api_reports_produce_latency_refusals_and_requests_in_flight(stack: Stack) -> None:
    api = stack.start_api(SUBMIT_RATE_PER_S="0.5", SUBMIT_BURST="2")
    client = stack.client(api)
    codes = [client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    text = _scrape(api)
    assert value(text, "userq_api_produce_seconds_count", outcome="delivered") == 2.0
    assert (value(text, "userq_api_produce_seconds_bucket", outcome="delivered", le="10.0") or 0) == 2.0
    assert value(text, "userq_api_refusals_total", status="429", code="rate_limited") == 1.0

    with client.http.stream("GET", "/v1/stream") as stream:
        assert stream.status_code == 200
        assert value(_scrape(api), "userq_api_requests_in_flight", kind="stream") == 1.0
    wait_until(lambda: value(_scrape(api), "userq_api_requests_in_flight", kind="stream") == 0, 30, "the stream's end")
    # the scrape itself is the one ordinary request in flight
    assert value(_scrape(api), "userq_api_requests_in_flight", kind="request") == 1.0


def test_several_api_processes_report_one_sum(stack: Stack, tmp_path: Path) -> None:
    """With API_WORKERS=2 a scrape reaches either process, and both answer the totals of both."""
    directory = tmp_path / "metrics"
    api = stack.start_api(API_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(directory))
    sent = 0

    def healthz(_: int) -> int:
        return httpx.get(f"{api}/healthz", timeout=10).status_code  # a connection each: any process answers

    def per_process() -> dict[str, float]:
        """/healthz requests each process counted, read from its own file."""
        counts = {}
        for file in directory.glob("counter_*.db"):
            metrics = multiprocess.MultiProcessCollector.merge([str(file)])  # type: ignore[no-untyped-call]
            counts[file.name] = sum(
                sample.value
                for metric in metrics
                for sample in metric.samples
                if sample.name == "userq_api_requests_total" and sample.labels.get("route") == "/healthz"
            )
        return {name: count for name, count in counts.items() if count}

    with ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            assert set(pool.map(healthz, range(40))) == {200}
            sent += 40
            if len(per_process()) == 2:
                break
    assert len(per_process()) == 2, "the requests did not reach both processes"
    assert sum(per_process().values()) == sent
    for _ in range(10):  # whichever process answers the scrape, it answers the sum
        text = httpx.get(f"{api}/metrics", timeout=5, headers={"Connection": "close"}).text
        assert value(text, "userq_api_requests_total", method="GET", route="/healthz", status="200") == sent
