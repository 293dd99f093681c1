"""Real processes, real Prometheus: an API (two uvicorn processes) and a worker serve every metric the
dashboards and alert rules name; a Prometheus started by infra/local/prometheus.sh scrapes them, answers
queries with our series, runs every dashboard query and evaluates every rule without error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from harness.processes import free_port
from harness.services import ROOT
from harness.stack import Stack
from tests.support.references import PROMETHEUS, dashboard_queries, dashboards, exposed, metric_names, rules, value
from tests.support.waits import wait_until


@dataclass(frozen=True)
class Running:
    stack: Stack
    api: str
    worker: str  # the worker's metrics URL

    def scrape(self, url: str) -> str:
        response = httpx.get(f"{url}/metrics", timeout=5)
        assert response.status_code == 200
        return response.text


@pytest.fixture(scope="module")
def running(module_stack: Stack) -> Running:
    """An API of two processes and a worker that went through every kind of outcome there is a metric for."""
    stack = module_stack
    api = stack.start_api(API_WORKERS="2", SUBMIT_RATE_PER_S="0.5", SUBMIT_BURST="3")
    port = free_port()
    stack.start_worker(
        METRICS_PORT=str(port),
        LAG_INTERVAL_S="0.5",
        QUEUE_METRICS_INTERVAL_S="0.5",
        RETRY_MAX_DELAY_S="600",
    )
    first = stack.client(api)
    first.submit("demo.echo", {})
    first.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 0.05})  # a retry, then success
    first.submit("demo.poison", {})  # a dead letter
    held = stack.client(api)
    held.submit("demo.flaky", {"fail_times": 100, "retry_after_s": 600})  # holds its user for 10 minutes
    held.submit("demo.echo", {})  # parked behind it
    eager = stack.client(api)
    codes = [eager.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}}).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    producer = Producer({"bootstrap.servers": stack.services.kafka})
    producer.produce(stack.settings.requests_topic, b"not a request", b"garbage")
    assert producer.flush(10) == 0
    running = Running(stack, api, f"http://127.0.0.1:{port}")

    def settled() -> bool:
        text = running.scrape(running.worker)
        return (
            all(
                (value(text, name, **labels) or 0) >= 1
                for name, labels in [
                    ("userq_worker_requests_total", {"type": "demo.flaky", "outcome": "succeeded"}),
                    ("userq_worker_dead_letters_total", {"type": "demo.poison", "cause": "permanent"}),
                    ("userq_worker_dead_letters_total", {"type": "unreadable", "cause": "unprocessable"}),
                    ("userq_held_users", {"reason": "retrying"}),
                    ("userq_parked_requests", {}),
                    ("userq_open_dead_letters", {}),
                ]
            )
            and "userq_worker_consumer_lag{" in text
        )

    wait_until(settled, 60, "the worker reporting every outcome", interval=0.25)
    return running


def _referenced() -> set[str]:
    queries = [query for board in dashboards() for query in dashboard_queries(board)]
    return metric_names(queries + [rule["expr"] for rule in rules()])


def test_every_metric_named_in_a_dashboard_or_a_rule_is_in_the_services_metrics(running: Running) -> None:
    referenced = _referenced()
    # the extraction finds what the queries name, histogram suffixes included
    assert {"userq_api_request_seconds_bucket", "userq_worker_batch_records_sum", "userq_held_users"} <= referenced
    offered = exposed(running.scrape(running.api)) | exposed(running.scrape(running.worker))
    assert referenced - offered == set(), "named in infra/ but not in any /metrics output"


@pytest.fixture(scope="module")
def prometheus(running: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus from infra/local/prometheus.sh, scraping the API and the worker every second, with the
    shipped alert rules."""
    state = tmp_path_factory.mktemp("prometheus")
    config = state / "prometheus.yml"
    config.write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {PROMETHEUS / "alerts.yml"}
scrape_configs:
  - job_name: userq-api
    static_configs:
      - targets: ['{running.api.removeprefix("http://")}']
  - job_name: userq-worker
    static_configs:
      - targets: ['{running.worker.removeprefix("http://")}']
"""
    )
    port = free_port()
    env = {
        **os.environ,
        "USERQ_PROM_PORT": str(port),
        "USERQ_PROM_STATE": str(state),
        "USERQ_PROM_CONFIG": str(config),
    }
    script = str(ROOT / "infra" / "local" / "prometheus.sh")
    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, started.stderr
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=60, check=True)


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_the_api_and_the_worker_and_returns_our_series(running: Running, prometheus: str) -> None:
    requests_topic = running.stack.settings.requests_topic
    for expr in (
        'up{job="userq-api"} == 1',
        'up{job="userq-worker"} == 1',
        'userq_api_requests_total{method="POST", route="/v1/requests", status="202"} >= 6',
        'userq_api_refusals_total{status="429", code="rate_limited"} >= 1',
        'userq_api_produce_seconds_count{outcome="delivered"} >= 6',
        'userq_worker_requests_total{type="demo.echo", outcome="succeeded"} >= 1',
        'userq_worker_dead_letters_total{type="demo.poison", cause="permanent"} >= 1',
        'userq_held_users{reason="retrying"} >= 1',
        f'userq_worker_consumer_lag{{topic="{requests_topic}"}}',
        "userq_worker_records_total >= 1",
    ):
        wait_until(partial(_query, prometheus, expr), 60, f"Prometheus answering {expr}", interval=0.25)


def test_every_dashboard_query_runs_in_prometheus(running: Running, prometheus: str) -> None:
    # rate() needs two samples in its window: two scrapes of each target
    two_scrapes = partial(_query, prometheus, "count_over_time(up[1m]) >= 2")
    wait_until(lambda: len(two_scrapes()) == 2, 60, "two scrapes of the API and of the worker", interval=0.25)
    answered = 0
    for board in dashboards():
        for query in dashboard_queries(board):
            if query.startswith("label_values("):
                continue  # Grafana's, not PromQL: its metric is checked by the name test
            expr = query.replace("$__rate_interval", "1m").replace("$topic", running.stack.settings.requests_topic)
            answered += bool(_query(prometheus, expr))
    print(f"{answered} dashboard queries answered")
    assert answered >= 30, "most dashboard queries return series once the services have run"


def test_prometheus_evaluates_every_alert_rule_without_error(prometheus: str) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        loaded = [rule for group in groups for rule in group["rules"]]
        return loaded if loaded and all(rule["health"] != "unknown" for rule in loaded) else None

    loaded = wait_until(evaluated, 60, "every rule evaluated once", interval=0.25)
    assert {rule["name"] for rule in loaded} == {rule["alert"] for rule in rules()}
    assert [(rule["name"], rule.get("lastError")) for rule in loaded if rule["health"] != "ok"] == []
