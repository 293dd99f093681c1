"""The bench harness's parts on real processes, small: the open-loop generator against the bare endpoint,
a preloaded backlog (records and what the API's acceptance leaves in PostgreSQL, matched) drained by a real
worker with its checks (which must also catch a broken order), the backlog plans within the pending cap,
and the report's targets. A whole `python -m bench --quick` takes minutes here, so it is not run in the suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import baselines, checks, load, preload, probes, report, rows, users
from bench.load import Answer
from bench.plan import FULL, QUICK
from harness.checks import read_topic
from harness.processes import Process, free_port, wait_ready
from harness.stack import Stack
from producer_api.security import issue
from producer_api.settings import ApiSettings


@pytest.fixture
def bare_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = Process("bare-api", "bench.bare_api", {"ENV": "test", "PORT": str(port), "API_WORKERS": "1"}, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server, probe="/healthz")
        yield url
    finally:
        server.stop()


def _users(count: int) -> list[load.User]:
    settings = ApiSettings(env="test")
    return [
        load.User(str(u), issue(settings, u, uuid.uuid4(), "access").token)
        for u in (uuid.uuid4() for _ in range(count))
    ]


BODY: dict[str, Any] = {"type": "demo.echo", "payload": {}}


def test_open_loop_keeps_its_schedule_and_counts_refusals(bare_url: str) -> None:
    people = _users(4)
    paced = load.run(load.Shot(bare_url, "/v1/requests", people, 30, 30.0, 8, BODY, collect_ids=False), 2)
    assert paced.sent == paced.accepted == 30
    assert paced.wall_s >= 29 / 30  # the last one is due at 29/30 s: arrivals follow the clock, not the answers
    assert len(paced.latencies_ms) == 30 and len(paced.late_ms) == 30
    figures = load.summary(paced, 30.0, 8, 2)
    assert figures["accepted_per_s"] > 0 and figures["latency_p99_ms"] >= figures["latency_p50_ms"] > 0

    forged = [load.User(people[0].user_id, people[0].token[:-4] + "AAAA")]
    refused = load.run(load.Shot(bare_url, "/v1/requests", forged, 10, None, 4, BODY, collect_ids=False))
    assert refused.accepted == 0 and refused.refused == {401: 10}


def test_a_preloaded_backlog_is_drained_and_checked(stack: Stack) -> None:
    ids = users.create(stack.database_url, 30, "smoke")
    preload.preload(stack.settings, ids, 120, "demo.echo", {"n": 1})
    preload.settle(stack.database_url)
    with stack.db() as conn:  # what the API leaves: a queue each, rows in the records' order, a logged `queued`
        queues = conn.execute("select count(*) from user_queues").fetchone()
        ordered = conn.execute("select request_id::text from requests order by kafka_partition, sequence").fetchall()
        logged = conn.execute(
            """select count(*) filter (where e.status = 'queued' and e.actor = 'api'),
                      count(*) filter (where e.seq <> x.n)
                 from request_events e
                 join (select request_id, row_number() over (partition by user_id order by sequence) as n
                         from requests) x using (request_id)"""
        ).fetchone()
    assert queues == (30,) and logged == (120, 0)
    assert [row[0] for row in ordered] == [r["request_id"] for r in read_topic(stack, stack.settings.requests_topic)]
    worker = stack.start_worker()
    probes.drain(stack, 120, 120, lambda _line: None, "worker")
    assert probes.peak_rss_kib(worker.pid) > 10_000
    assert rows.throughput(stack)["records"] == 120
    found = checks.run(stack)
    assert found["passed"], found
    assert found["terminal"] == 120 and found["result_events"] >= 120 and found["order_violations"] == 0

    with stack.db() as conn:  # the second request of one user now "started" before the first one finished
        conn.execute(
            """update requests set started_at = started_at - interval '1 hour'
                where request_id = (select request_id from requests where user_id = %s order by sequence offset 1
                                     limit 1)""",
            (ids[0],),
        )
    broken = checks.run(stack)
    assert broken["order_violations"] == 1 and not broken["passed"]


def test_every_plan_keeps_the_measuring_users_under_the_pending_cap() -> None:
    cap = ApiSettings(env="test").max_pending_per_user
    for plan in (FULL, QUICK):
        assert plan.backlog_per_user + plan.per_user <= cap
        assert plan.backlog_per_user * plan.users < plan.backlog  # most of it is other users'
    assert FULL.backlog == 1_000_000 and QUICK.backlog <= 10_000


def test_client_order_counts_a_request_queued_before_one_answered_earlier() -> None:
    answers = {"u": [Answer("a", 0.0, 1.0), Answer("b", 2.0, 3.0), Answer("c", 2.5, 2.9)]}
    assert checks._client_order(answers, {"a": 10, "b": 11, "c": 12}) == 0
    assert checks._client_order(answers, {"a": 12, "b": 11, "c": 10}) == 2  # b and c were sent after a's 202


def test_the_report_has_every_target_and_judges_it() -> None:
    results: dict[str, Any] = {}

    def put(path: str, value: float) -> None:
        *parents, leaf = path.split(".")
        node = results
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    for target in report.TARGETS:
        put(target.figure, 100.0)
        if target.baseline:
            put(target.baseline, 100.0)
    judged = {t["name"]: t for t in report.targets(results)}
    assert set(judged) == {t.name for t in report.TARGETS}
    assert judged["accept path / bare FastAPI+JWT (req/s)"]["met"] is True  # 1.0 >= 0.5
    assert judged["worker demo.echo / naive worker (rec/s)"]["met"] is False  # 1.0 < 10
    assert judged["accept path with the backlog (1M) queued / with none (req/s)"]["met"] is True  # 1.0 >= 0.9
    assert judged["end-to-end p99 at the fixed rate (ms)"]["met"] is False  # 100 ms > 50 ms
    assert judged["worker peak RSS, many users / few users"]["met"] is True  # 1.0 <= 1.2
    text = report.table(results)
    for target in report.TARGETS:
        assert target.name in text
    assert all(t["met"] is None for t in report.targets({}))


def test_the_kafka_only_accept_produces_each_request_and_answers_after_the_ack(stack: Stack, tmp_path: Path) -> None:
    topic = f"{stack.settings.topic_prefix}.bench.kafka_accept"
    baselines.create_topic(stack, topic)
    port = free_port()
    env = {**stack.env, "ENV": "test", "PORT": str(port), "API_WORKERS": "1", "BENCH_ACCEPT_TOPIC": topic}
    server = Process("bare-api-kafka", "bench.bare_api", env, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server, probe="/healthz")
        shot = load.run(load.Shot(url, "/v1/kafka", _users(3), 30, None, 8, BODY, collect_ids=False), 1)
    finally:
        server.stop()
    assert shot.accepted == 30
    assert len(read_topic(stack, topic)) == 30
