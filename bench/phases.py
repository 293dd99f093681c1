"""The phases of a bench run. Each builds its own private userq (`harness.stack.Stack`: a database
and topics of its own, real API and worker processes) and returns its section of the results.

1. `http`: N users x M `demo.echo` submitted at the maximum (no worker yet, so the accept path is alone
   on the machine), the same again in a stack of its own with a million requests queued (preloaded, no
   worker), the bare endpoint under the same load, then one worker drains the backlog (worker
   throughput), the naive worker reads the same topic, then N x M more at a fixed rate with the worker
   running (accept and end-to-end latency, peak lag); the Kafka and PostgreSQL baselines last.
2. `sleep`: `demo.sleep {ms: 10}` of 200 users and `{ms: 100}` of 2,000 users, each on one partition
   (preloaded), drained by one worker, against strictly sequential processing (ms x records).
3. `slow`: one user's batch of 7 x `demo.sleep {ms: 10000}` beside 48 users sending `demo.echo` at 2/s
   each, one partition: when the batch is done, and the others' end-to-end latency with and without it.
4. `memory`: the same number of records of few and of many distinct users (produced directly, rows
   copied in), one worker each; its peak RSS.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import baselines, checks, load, preload, probes, rows, users
from bench.plan import Plan
from harness.services import Services
from harness.stack import Stack
from producer_api.settings import ApiSettings
from schemas import records as wire
from schemas.records import RequestRecord

ECHO: dict[str, Any] = {"type": "demo.echo", "payload": {"bench": True}}
# The per-user submit limits are not what the bench measures: far above any rate it reaches.
API_ENV = {"SUBMIT_RATE_PER_S": "1000000", "SUBMIT_BURST": "1000000"}


class Progress:
    """One progress line on standard error, rewritten in place on a terminal, every few seconds elsewhere."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0
        self._width = 0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if self._tty:
            sys.stderr.write("\r" + text.ljust(self._width))
            self._width = len(text)
            sys.stderr.flush()
        elif now - self._last >= 3:
            sys.stderr.write(text + "\n")
            self._last = now

    def phase(self, name: str) -> None:
        if self._tty and self._width:
            sys.stderr.write("\n")
        self._width = 0
        self._last = 0.0
        sys.stderr.write(f"[bench {datetime.now(UTC):%H:%M:%S}] {name}\n")


@dataclass(frozen=True)
class Context:
    services: Services
    plan: Plan
    log_dir: Path
    progress: Progress

    def stack(self, name: str, partitions: int) -> Stack:
        path = self.log_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return Stack(self.services, path, partitions=partitions)


def http(ctx: Context) -> dict[str, Any]:
    plan, progress = ctx.plan, ctx.progress
    out: dict[str, Any] = {}
    with ctx.stack("http", plan.partitions) as stack:
        people = users.sign_in(
            stack.database_url, ApiSettings(env="test"), users.create(stack.database_url, plan.users, "bench")
        )
        url = stack.start_api(API_WORKERS=str(plan.api_workers), **API_ENV)
        shot = _maximum(plan, url, people)

        progress.phase(f"accept path at the maximum: {plan.users} users x {plan.per_user}, {plan.window} in flight")
        most = load.run(shot, plan.load_processes, progress, "accept, maximum")
        out["accept_max"] = load.summary(most, None, plan.window, plan.load_processes)

        out["accept_backlog"] = _accept_with_backlog(ctx)

        progress.phase("baseline: bare FastAPI endpoint with the same JWT check, then the generator's ceiling")
        out.update(baselines.bare_api(stack, shot, plan.load_processes, plan.api_workers, progress))

        progress.phase(f"worker throughput: one worker drains {most.accepted} demo.echo")
        stack.start_worker()
        with probes.LagSampler(stack) as lag:
            probes.drain(stack, most.accepted, plan.drain_timeout_s, progress, "worker")
        out["worker_echo"] = {**rows.throughput(stack), "peak_lag": lag.peak}

        progress.phase(f"baseline: naive worker on the same topic (at most {plan.naive_max_s:g} s)")
        out["naive_worker"] = baselines.naive_worker(stack, most.accepted, plan.naive_max_s)

        rate = max(1.0, plan.rate_fraction * out["accept_max"]["accepted_per_s"])
        progress.phase(f"fixed rate: {plan.requests} requests at {rate:.0f}/s, open loop, worker running")
        with probes.LagSampler(stack) as lag:
            fixed = load.run(
                load.Shot(url, "/v1/requests", people, plan.requests, rate, plan.window * 4, ECHO),
                plan.load_processes,
                progress,
                "accept, fixed rate",
            )
            probes.drain(stack, most.accepted + fixed.accepted, plan.drain_timeout_s, progress, "worker")
        out["accept_rate"] = load.summary(fixed, rate, plan.window * 4, plan.load_processes)
        ids = [a.request_id for answers in fixed.answers.values() for a in answers]
        out["end_to_end"] = {**rows.end_to_end(stack, ids), "rate_per_s": round(rate, 1), "peak_lag": lag.peak}

        progress.phase("correctness checks")
        answers = most.answers
        for user_id, listed in fixed.answers.items():
            answers.setdefault(user_id, []).extend(listed)
        out["checks"] = checks.run(stack, answers)

        progress.phase(f"baseline: Kafka perf tools, {plan.kafka_records} records")
        out["kafka"] = baselines.kafka_perf(stack, stack.log_dir, plan.kafka_records, _record_size())
        progress.phase(f"baseline: PostgreSQL batch upsert, {plan.pg_rows} rows in batches of {plan.pg_batch}")
        out["pg_upsert"] = baselines.pg_upsert(stack.database_url, plan.pg_rows, plan.pg_batch)
    return out


def _maximum(plan: Plan, url: str, people: list[load.User]) -> load.Shot:
    """The accept path's load at the maximum: N x M `demo.echo`, round-robin over the users, `window` in flight."""
    return load.Shot(url, "/v1/requests", people, plan.requests, None, plan.window, ECHO)


def _accept_with_backlog(ctx: Context) -> dict[str, Any]:
    """The accept path at the maximum again, in a stack of its own with `plan.backlog` requests queued and
    no worker: `backlog_per_user` of them each measuring user's own (the pending cap counts those), the rest
    spread over `backlog_users` other users; records and rows alike (`bench.preload`). The stack, backlog
    and all, is dropped after."""
    plan, progress = ctx.plan, ctx.progress
    settings = ApiSettings(env="test")
    own = plan.backlog_per_user * plan.users
    if plan.backlog_per_user + plan.per_user > settings.max_pending_per_user or own > plan.backlog:
        raise ValueError(
            f"{plan.backlog_per_user} queued + {plan.per_user} submitted per user: over MAX_PENDING_PER_USER"
            f" ({settings.max_pending_per_user}), or {own} over the backlog ({plan.backlog})"
        )
    with ctx.stack("http-backlog", plan.partitions) as stack:
        progress.phase(
            f"backlog: {plan.backlog:,} queued, {plan.backlog_per_user:,} of each of the {plan.users} users,"
            f" the rest over {plan.backlog_users:,} others (preload)"
        )
        measuring = users.create(stack.database_url, plan.users, "bench")
        others = users.create(stack.database_url, plan.backlog_users, "queued")
        started = time.monotonic()
        preload.preload(stack.settings, measuring, own, ECHO["type"], ECHO["payload"])
        preload.preload(stack.settings, others, plan.backlog - own, ECHO["type"], ECHO["payload"])
        preload.settle(stack.database_url)
        seeded_s = time.monotonic() - started
        url = stack.start_api(API_WORKERS=str(plan.api_workers), **API_ENV)
        shot = _maximum(plan, url, users.sign_in(stack.database_url, settings, measuring))
        progress.phase(f"accept path at the maximum with {plan.backlog:,} queued (after {seeded_s:.0f} s of preload)")
        outcome = load.run(shot, plan.load_processes, progress, f"accept, maximum, {plan.backlog:,} queued")
    return {
        **load.summary(outcome, None, plan.window, plan.load_processes),
        "queued": plan.backlog,
        "queued_per_user": plan.backlog_per_user,
        "queued_users": plan.backlog_users,
        "preload_s": round(seeded_s, 1),
    }


def sleep(ctx: Context) -> dict[str, Any]:
    """Both shapes of `demo.sleep` on one partition and one worker: many short sleeps of 200 users, and
    longer sleeps of 2,000 users; each against strictly sequential processing."""
    plan = ctx.plan
    narrow = _sleep_shape(ctx, "sleep", plan.sleep_users, plan.sleep_per_user, plan.sleep_ms)
    wide = _sleep_shape(ctx, "sleep-wide", plan.wide_users, plan.wide_per_user, plan.wide_ms)
    return {**narrow, "wide": wide}


def _sleep_shape(ctx: Context, name: str, people: int, per_user: int, ms: int) -> dict[str, Any]:
    count = people * per_user
    with ctx.stack(name, 1) as stack:
        ctx.progress.phase(f"demo.sleep {{ms: {ms}}}: {people} users x {per_user}, one partition (preload)")
        ids = users.create(stack.database_url, people, name)
        preload.preload(stack.settings, ids, count, "demo.sleep", {"ms": ms})
        stack.start_worker()
        with probes.LagSampler(stack) as lag:
            probes.drain(stack, count, ctx.plan.drain_timeout_s, ctx.progress, "worker")
        figures = rows.throughput(stack)
        sequential = 1000.0 / ms
        return {
            **figures,
            "users": people,
            "partitions": 1,
            "sleep_ms": ms,
            "peak_lag": lag.peak,
            "sequential_per_s": sequential,
            "ratio_to_sequential": round(figures["per_s"] / sequential, 2) if figures["per_s"] else None,
            "checks": checks.run(stack),
        }


def slow(ctx: Context) -> dict[str, Any]:
    """One user's batch of `slow_requests` x `demo.sleep {ms: slow_ms}` beside `slow_others` users sending
    `demo.echo` at 2/s each, all on one partition, one worker: when the batch is done (from its 202), and the
    others' end-to-end latency while it runs against the same load before it."""
    plan, progress = ctx.plan, ctx.progress
    with ctx.stack("slow", 1) as stack:
        people = users.sign_in(
            stack.database_url,
            ApiSettings(env="test"),
            users.create(stack.database_url, plan.slow_others + 1, "slow"),
        )
        url = stack.start_api(API_WORKERS=str(plan.api_workers), **API_ENV)
        stack.start_worker()
        slow_user, others = people[0], people[1:]
        rate = 2.0 * len(others)
        before_s, during_s = 20.0, plan.slow_requests * plan.slow_ms / 1000 + 5
        progress.phase(f"{len(others)} users, demo.echo at {rate:g}/s for {before_s:g} s (no slow user yet)")
        calm = load.run(load.Shot(url, "/v1/requests", others, int(rate * before_s), rate, 64, ECHO), 1, progress)
        progress.phase(f"a batch of {plan.slow_requests} x demo.sleep {{ms: {plan.slow_ms}}} and the same load")
        batch = {"requests": [{"type": "demo.sleep", "payload": {"ms": plan.slow_ms}}] * plan.slow_requests}
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {slow_user.token}"}) as client:
            answered = client.post("/v1/requests/batch", json=batch, timeout=30)
        answered.raise_for_status()
        slow_ids = [view["request_id"] for view in answered.json()["requests"]]
        busy = load.run(load.Shot(url, "/v1/requests", others, int(rate * during_s), rate, 64, ECHO), 1, progress)
        probes.drain(stack, calm.accepted + busy.accepted + len(slow_ids), plan.drain_timeout_s, progress, "worker")
        with stack.db() as conn:
            row = conn.execute(
                """select extract(epoch from max(completed_at) - min(accepted_at))
                     from requests where request_id = any(%s)""",
                (slow_ids,),
            ).fetchone()
        assert row is not None
        ids = [[a.request_id for answers in o.answers.values() for a in answers] for o in (calm, busy)]
        answers = calm.answers
        for user_id, listed in busy.answers.items():
            answers.setdefault(user_id, []).extend(listed)
        return {
            "batch": {
                "requests": plan.slow_requests,
                "sleep_ms": plan.slow_ms,
                "done_after_s": round(float(row[0]), 1),
            },
            "others_before": rows.end_to_end(stack, ids[0]),
            "others_during": rows.end_to_end(stack, ids[1]),
            "checks": checks.run(stack, answers),
        }


def memory(ctx: Context) -> dict[str, Any]:
    plan, progress = ctx.plan, ctx.progress
    out: dict[str, Any] = {"records": plan.memory_records}
    for name, distinct in (("few", plan.memory_users_few), ("many", plan.memory_users_many)):
        with ctx.stack(f"memory-{name}", plan.partitions) as stack:
            progress.phase(f"memory: {plan.memory_records} records of {distinct} distinct users (preload)")
            ids = users.create(stack.database_url, distinct, "mem")
            preload.preload(stack.settings, ids, plan.memory_records, "demo.echo", ECHO["payload"])
            worker = stack.start_worker()
            probes.drain(stack, plan.memory_records, plan.drain_timeout_s, progress, f"worker, {distinct} users")
            rss = probes.peak_rss_kib(worker.pid)
            out[name] = {
                "users": distinct,
                "peak_rss_kib": rss,
                **rows.throughput(stack),
                "checks": checks.run(stack),
            }
    out["rss_ratio"] = round(out["many"]["peak_rss_kib"] / out["few"]["peak_rss_kib"], 3)
    return out


def _record_size() -> int:
    """Bytes of one of our demo.echo records (value only), for the Kafka perf tools."""
    record = RequestRecord(
        request_id=uuid.UUID(int=1),
        user_id=uuid.UUID(int=2),
        type=ECHO["type"],
        payload=ECHO["payload"],
        accepted_at=datetime.now(UTC),
        trace_id="0" * 32,
    )
    return len(wire.encode(record))
