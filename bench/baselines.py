"""Limits and baselines, measured in the same run as our figures so that each ratio shares its noise.

- Kafka's own `ProducerPerformance` and `ConsumerPerformance`, from the jars the broker runs from
  (`$KAFKA_HOME/libs`, see infra/local/common.sh), with our producer's settings and record size;
- PostgreSQL batch upserts with psycopg, batches the size of the worker's;
- the bare FastAPI endpoint with the same JWT check (`bench/bare_api.py`), and the generator's ceiling
  against its no-op route;
- the naive worker (`bench/naive_worker.py`) on the same topic.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench import load
from harness.processes import Process, free_port, wait_ready
from harness.services import ROOT
from harness.stack import Stack
from runtime.kafka import producer_config

KAFKA_VERSION = "4.1.1"  # infra/local/common.sh pins the same
_PRODUCER_SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max"
    r" latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th"
)


def kafka_home() -> Path:
    cache = Path(os.environ.get("USERQ_CACHE", Path.home() / ".cache" / "userq"))
    return cache / f"kafka-{KAFKA_VERSION}"


def kafka_perf(stack: Stack, log_dir: Path, records: int, record_size: int) -> dict[str, Any]:
    """Kafka's producer and consumer perf tools on a topic of their own with the stack's partition count."""
    topic = f"{stack.prefix}.perf"
    admin = AdminClient({"bootstrap.servers": stack.services.kafka})
    for future in admin.create_topics(
        [NewTopic(topic, num_partitions=stack.settings.request_partitions, replication_factor=1)]
    ).values():
        future.result()
    try:
        ours = producer_config(stack.settings, "bench-perf")
        props = [f"{k}={v}" for k, v in ours.items() if k != "client.id"]
        produced = _java(
            log_dir,
            "org.apache.kafka.tools.ProducerPerformance",
            ["--topic", topic, "--num-records", str(records), "--record-size", str(record_size)],
            ["--throughput", "-1", "--producer-props", *props],
        )
        summaries = list(_PRODUCER_SUMMARY.finditer(produced))
        if not summaries:
            raise RuntimeError(f"ProducerPerformance printed no summary:\n{produced[-2000:]}")
        consumed = _java(
            log_dir,
            "org.apache.kafka.tools.ConsumerPerformance",
            ["--bootstrap-server", stack.services.kafka, "--topic", topic, "--messages", str(records)],
            ["--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "60000"],
        )
        match = summaries[-1]  # the run's total; lines before it are progress
        line = [row for row in consumed.splitlines() if row.count(",") >= 9][-1].split(",")
        return {
            "record_size": record_size,
            "producer": {
                "records": int(match[1]),
                "per_s": float(match[2]),
                "mb_per_s": float(match[3]),
                "latency_avg_ms": float(match[4]),
                "latency_p99_ms": float(match[8]),
                "settings": " ".join(props),
            },
            "consumer": {
                "records": int(float(line[4])),
                "per_s": float(line[5]),
                "fetch_per_s": float(line[9]),  # without the group join
                "mb_per_s": float(line[3]),
            },
        }
    finally:
        for future in admin.delete_topics([topic], operation_timeout=30).values():
            future.result()


def _java(log_dir: Path, main: str, *args: list[str]) -> str:
    log4j = log_dir / "perf-log4j2.properties"
    log4j.write_text("status = error\nrootLogger.level = error\n")
    command = [
        "java",
        "-Xmx512m",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{kafka_home() / 'libs'}/*",
        main,
        *[a for group in args for a in group],
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{main} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def pg_upsert(database_url: str, rows: int, batch: int) -> dict[str, Any]:
    """Rows a second through `insert … on conflict do update` from arrays, one transaction per batch;
    half the batches insert new rows, half update rows already there (a worker does both)."""
    ids = [uuid.uuid4() for _ in range(rows // 2)]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """create table bench_upsert (request_id uuid primary key, user_id uuid not null, status text not null,
                                          result jsonb, completed_at timestamptz)"""
        )
        conn.commit()
        user_id = uuid.uuid4()
        statement = """insert into bench_upsert (request_id, user_id, status, result, completed_at)
                       select id, %s, %s, %s::jsonb, now() from unnest(%s::uuid[]) as id
                       on conflict (request_id) do update
                       set status = excluded.status, result = excluded.result, completed_at = excluded.completed_at"""
        start = time.monotonic()
        done = 0
        for status in ("queued", "succeeded"):
            for i in range(0, len(ids), batch):
                chunk = ids[i : i + batch]
                conn.execute(statement, (user_id, status, '{"ok": true}', chunk))
                conn.commit()
                done += len(chunk)
        seconds = time.monotonic() - start
        conn.execute("drop table bench_upsert")
        conn.commit()
    return {"rows": done, "batch": batch, "seconds": round(seconds, 3), "per_s": round(done / seconds, 1)}


def bare_api(
    stack: Stack,
    shot: load.Shot,
    processes: int,
    api_workers: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The bare endpoint under the same shot as the API's maximum; the Kafka-only accept (JWT check,
    produce with the API's settings, wait for the ack, 202); then the generator against `/noop`."""
    port = free_port()
    topic = f"{stack.settings.topic_prefix}.bench.kafka_accept"
    create_topic(stack, topic)
    env = {**stack.env, "PORT": str(port), "API_WORKERS": str(api_workers), "BENCH_ACCEPT_TOPIC": topic}
    server = Process(f"bare-api-{port}", "bench.bare_api", env, stack.log_dir)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server, probe="/healthz")
        at = _at(shot, url, "/v1/requests")
        bare = load.summary(load.run(at, processes, progress, "bare FastAPI+JWT"), None, shot.window, processes)
        kafka = load.run(_at(shot, url, "/v1/kafka"), processes, progress, "Kafka-only accept")
        kafka_only = load.summary(kafka, None, shot.window, processes)
        noop = _at(shot, url, "/noop")
        ceiling = load.summary(load.run(noop, processes, progress, "generator ceiling"), None, shot.window, processes)
    finally:
        server.stop()
    return {"bare_api": bare, "kafka_accept": kafka_only, "generator_ceiling": ceiling}


def create_topic(stack: Stack, name: str) -> None:
    """A topic like the requests topic (same partitions), for the Kafka-only accept to write to."""
    admin = AdminClient({"bootstrap.servers": stack.services.kafka})
    futures = admin.create_topics([NewTopic(name, stack.settings.request_partitions, 1)])
    for future in futures.values():
        future.result(30)


def _at(shot: load.Shot, url: str, path: str) -> load.Shot:
    return load.Shot(url, path, shot.users, shot.count, None, shot.window, shot.body, collect_ids=False)


def naive_worker(stack: Stack, records: int, max_seconds: float) -> dict[str, Any]:
    """The naive worker over the stack's requests topic, in a group of its own."""
    command = [
        sys.executable,
        "-m",
        "bench.naive_worker",
        "--bootstrap",
        stack.services.kafka,
        "--database-url",
        stack.database_url,
        "--topic",
        stack.settings.requests_topic,
        "--group",
        f"{stack.prefix}-naive",
        "--records",
        str(records),
        "--max-seconds",
        str(max_seconds),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=max_seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(f"naive worker failed:\n{result.stderr[-2000:]}")
    figures: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return figures
