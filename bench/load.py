"""The open-loop HTTP load generator: asyncio and aiohttp, in one or more processes of its own.

Open loop: request i is due at `start + i / rate` whatever happened to the ones before it, and its latency
is measured from that due time, not from when it could be sent. A server that stalls therefore shows up
in the tail instead of slowing the generator down with it (coordinated omission). `rate=None` is the
maximum: each request is sent as soon as one of the `window` slots in flight is free, and timed from then.

The generator runs in child processes (spawned, so they share nothing with the caller's Kafka and
PostgreSQL clients), each with a share of the users, the count, the rate and the window. A shot sends one
body to everybody, or draws each request from a mix (`harness.mix.Mix`, seeded per process); `serial`
keeps one request per user in flight, sent in order (its due time still counts), so that each user's
acceptance order is the order the client saw its answers: what the full checker compares. Counters in
shared memory feed the caller's progress line. Each child reports its own CPU time: a generator that
used a whole core was the bottleneck, and the figures say so.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import random
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

import aiohttp
import orjson

from harness.mix import Mix

# slots of one child in the shared counters
_SENT, _ACCEPTED, _FAILED = 0, 1, 2
_SLOTS = 3


@dataclass(frozen=True)
class User:
    user_id: str
    token: str


@dataclass(frozen=True)
class Shot:
    """One load run: `count` POSTs of `body` to `url + path`, round-robin over `users`."""

    url: str
    path: str
    users: list[User]
    count: int
    rate: float | None  # arrivals per second; None: as fast as the window allows
    window: int  # requests in flight at most
    body: dict[str, Any]
    collect_ids: bool = True  # read `request_id` from each 202 (the API); the bare endpoint has none
    timeout_s: float = 30.0
    phase_s: float = 0.0  # this shard's first arrival after the start (shards interleave their arrivals)
    mix: Mix | None = None  # draw each request's body from this mix instead of sending `body`
    serial: bool = False  # one request per user in flight: a user's next one waits for its previous answer


@dataclass(frozen=True)
class Answer:
    """One accepted request: its id, and when (monotonic, this machine) it was sent and answered."""

    request_id: str
    sent: float
    answered: float


@dataclass
class Outcome:
    sent: int = 0
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # status -> count
    errors: int = 0  # no answer: connection errors, timeouts
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the generator's own CPU time, all its processes
    latencies_ms: list[float] = field(default_factory=list)  # of accepted requests
    late_ms: list[float] = field(default_factory=list)  # send time minus due time (open loop only)
    answers: dict[str, list[Answer]] = field(default_factory=dict)  # user_id -> accepted, in answer order

    def merge(self, other: Outcome) -> None:
        self.sent += other.sent
        self.accepted += other.accepted
        for status, n in other.refused.items():
            self.refused[status] = self.refused.get(status, 0) + n
        self.errors += other.errors
        self.wall_s = max(self.wall_s, other.wall_s)
        self.cpu_s += other.cpu_s
        self.latencies_ms.extend(other.latencies_ms)
        self.late_ms.extend(other.late_ms)
        for user_id, answers in other.answers.items():
            self.answers.setdefault(user_id, []).extend(answers)


def percentile(values: list[float], q: float) -> float | None:
    """The `q` quantile (0..1) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(q * len(ordered))) - 1)]


def summary(outcome: Outcome, rate: float | None, window: int, processes: int) -> dict[str, Any]:
    """The figures of one run, as they go into the report."""
    wall = outcome.wall_s or float("nan")
    return {
        "target_rate_per_s": rate,
        "window": window,
        "generator_processes": processes,
        "sent": outcome.sent,
        "accepted": outcome.accepted,
        "refused": {str(k): v for k, v in sorted(outcome.refused.items())},
        "errors": outcome.errors,
        "seconds": round(outcome.wall_s, 3),
        "accepted_per_s": round(outcome.accepted / wall, 1),
        "latency_p50_ms": _round(percentile(outcome.latencies_ms, 0.50)),
        "latency_p99_ms": _round(percentile(outcome.latencies_ms, 0.99)),
        "latency_max_ms": _round(max(outcome.latencies_ms, default=None)),
        "send_late_p99_ms": _round(percentile(outcome.late_ms, 0.99)),
        # above ~0.9 per process the generator, not the server, set the pace
        "generator_cpu_per_process": round(outcome.cpu_s / wall / processes, 2),
    }


def run(shot: Shot, processes: int = 1, progress: Callable[[str], None] | None = None, label: str = "") -> Outcome:
    """Run `shot` in `processes` child processes; their merged outcome."""
    processes = max(1, min(processes, len(shot.users), shot.count))
    shards = [_shard(shot, k, processes) for k in range(processes)]
    ctx = mp.get_context("spawn")
    counters = ctx.Array("q", _SLOTS * processes)
    results: mp.Queue[Outcome] = ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(shard, k, counters, results), daemon=True) for k, shard in enumerate(shards)
    ]
    for child in children:
        child.start()
    merged = Outcome()
    pending = len(children)
    try:
        while pending:
            try:
                merged.merge(results.get(timeout=0.5))
                pending -= 1
            except Exception:  # queue.Empty: not done yet
                if not any(c.is_alive() for c in children) and results.empty():
                    raise RuntimeError("a load generator process died") from None
            if progress is not None:
                progress(_progress_line(label, counters, processes, shot.count))
    finally:
        for child in children:
            child.join(5)
            if child.is_alive():
                child.kill()
    return merged


def _progress_line(label: str, counters: SynchronizedArray[int], processes: int, count: int) -> str:
    values = counters[:]
    sent = sum(values[k * _SLOTS + _SENT] for k in range(processes))
    accepted = sum(values[k * _SLOTS + _ACCEPTED] for k in range(processes))
    failed = sum(values[k * _SLOTS + _FAILED] for k in range(processes))
    return f"{label}: sent {sent}/{count}, accepted {accepted}, refused or failed {failed}"


def _shard(shot: Shot, k: int, n: int) -> Shot:
    users = shot.users[k::n]
    count = shot.count // n + (1 if k < shot.count % n else 0)
    return replace(
        shot,
        users=users,
        count=count,
        rate=None if shot.rate is None else shot.rate / n,
        window=max(1, shot.window // n),
        phase_s=0.0 if shot.rate is None else k / shot.rate,  # arrival k + n*j of the whole is at (k + n*j)/rate
        mix=None if shot.mix is None else replace(shot.mix, seed=shot.mix.seed * 1_000 + k),
    )


def _child(shot: Shot, k: int, counters: SynchronizedArray[int], results: mp.Queue[Outcome]) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    outcome = asyncio.run(_generate(shot, counters, k * _SLOTS))
    results.put(outcome)
    sys.exit(0)


async def _generate(shot: Shot, counters: SynchronizedArray[int], base: int) -> Outcome:
    outcome = Outcome(answers={u.user_id: [] for u in shot.users})
    body = orjson.dumps(shot.body)
    headers = [{"authorization": f"Bearer {u.token}", "content-type": "application/json"} for u in shot.users]
    slots = asyncio.Semaphore(shot.window)
    connector = aiohttp.TCPConnector(limit=shot.window)
    timeout = aiohttp.ClientTimeout(total=shot.timeout_s)
    cpu_start = time.process_time()
    rng = random.Random(shot.mix.seed if shot.mix else 0)
    turns = [asyncio.Lock() for _ in shot.users]  # FIFO: a user's requests go out in the order they were due
    async with aiohttp.ClientSession(shot.url, connector=connector, timeout=timeout) as client:

        async def send(i: int, due: float, data: bytes) -> None:
            user = i % len(shot.users)
            turn: AbstractAsyncContextManager[Any] = turns[user] if shot.serial else nullcontext()
            try:
                async with turn:
                    sent = time.monotonic()
                    async with client.post(shot.path, data=data, headers=headers[user]) as response:
                        status, content = response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError):
                outcome.errors += 1
                counters[base + _FAILED] += 1
                return
            finally:
                slots.release()
            answered = time.monotonic()
            if status == 202:
                outcome.accepted += 1
                counters[base + _ACCEPTED] += 1
                outcome.latencies_ms.append((answered - due) * 1000)
                if shot.collect_ids:
                    request_id = orjson.loads(content)["request_id"]
                    outcome.answers[shot.users[user].user_id].append(Answer(request_id, sent, answered))
            else:
                outcome.refused[status] = outcome.refused.get(status, 0) + 1
                counters[base + _FAILED] += 1

        tasks: set[asyncio.Future[None]] = set()  # in flight only: a long run keeps no finished ones
        start = time.monotonic()
        for i in range(shot.count):
            if shot.rate is not None:
                due = start + shot.phase_s + i / shot.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await slots.acquire()
                outcome.late_ms.append((time.monotonic() - due) * 1000)
            else:
                await slots.acquire()
                due = time.monotonic()
            outcome.sent += 1
            counters[base + _SENT] += 1
            data = body if shot.mix is None else orjson.dumps(shot.mix.body(rng, i))
            task = asyncio.ensure_future(send(i, due, data))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        outcome.wall_s = time.monotonic() - start
    outcome.cpu_s = time.process_time() - cpu_start
    return outcome


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
