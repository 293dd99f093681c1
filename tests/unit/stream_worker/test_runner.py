"""`Runner`: chains run side by side, each in order; async and plain handlers; deadlines; where a chain ends."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from request_types.errors import TransientError
from request_types.registry import Context, JSONObject, RecordContext, Registry
from stream_worker.outcomes import DeadLetter, Retry, RetryPolicy, Succeeded
from stream_worker.runner import Attempt, Finished, Runner

DEADLINE_S = 10.0


class Wait(BaseModel):
    ms: int = 0
    tag: str = ""


class Probe:
    """Counts handlers in flight, and the most at once."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()
        self.order: list[str] = []

    def enter(self, tag: str) -> None:
        with self.lock:
            self.order.append(tag)
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def _registry(probe: Probe) -> Registry:
    registry = Registry()

    @registry.handler("async.wait", Wait)
    async def async_wait(ctx: Context, payload: Wait) -> JSONObject:
        probe.enter(payload.tag)
        try:
            await asyncio.sleep(payload.ms / 1000)
        finally:
            probe.leave()
        return {"tag": payload.tag, "attempt": ctx.attempt}

    @registry.handler("sync.wait", Wait)
    def sync_wait(ctx: Context, payload: Wait) -> JSONObject:
        probe.enter(payload.tag)
        try:
            time.sleep(payload.ms / 1000)
        finally:
            probe.leave()
        return {"tag": payload.tag, "thread": threading.current_thread().name}

    @registry.handler("slow", Wait, timeout_s=0.05)
    async def slow(ctx: Context, payload: Wait) -> JSONObject:
        await asyncio.sleep(5)
        return {}

    @registry.handler("flaky", Wait)
    async def flaky(ctx: Context, payload: Wait) -> JSONObject:
        raise TransientError("later")

    @registry.handler("poison", Wait, dead_letter_policy="halt")
    async def poison(ctx: Context, payload: Wait) -> JSONObject:
        raise ValueError("never")

    @registry.in_transaction("ledger", Wait)
    def ledger(ctx: RecordContext, payload: Wait) -> JSONObject:
        return {}

    return registry


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def runner(probe: Probe) -> Iterator[Runner]:
    runner = Runner(
        _registry(probe), RetryPolicy(5, 0.1, 1.0), "continue", timeout_s=DEADLINE_S, threads=4, max_result_bytes=1024
    )
    yield runner
    runner.close()


def _attempt(type_: str, user: uuid.UUID, **payload: object) -> Attempt:
    return Attempt(uuid.uuid4(), user, type_, dict(payload), 1, 0)


def _collect(runner: Runner, count: int) -> list[Finished]:
    got: list[Finished] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(got) < count:
        assert time.monotonic() < deadline, f"{len(got)} of {count} outcomes after {DEADLINE_S} s"
        got += runner.take()
        time.sleep(0.005)
    return got


def test_thousands_of_users_wait_side_by_side_each_in_order(runner: Runner, probe: Probe) -> None:
    users, per_user = 2000, 3
    chains = []
    for n in range(users):
        user = uuid.uuid4()
        chains.append((n, [_attempt("async.wait", user, ms=50, tag=f"{n}:{k}") for k in range(per_user)]))
    runner.submit(chains)
    finished = _collect(runner, users * per_user)
    assert probe.most >= 1000  # far beyond any thread pool: they wait on the loop
    by_chain: dict[int, list[str]] = {}
    for done in finished:
        assert isinstance(done.outcome, Succeeded)
        by_chain.setdefault(done.chain, []).append(done.outcome.result["tag"])
    for n, tags in by_chain.items():
        assert tags == [f"{n}:{k}" for k in range(per_user)]  # each user's in order, one at a time
    ends = [done for done in finished if done.last]
    assert len(ends) == users


def test_plain_handlers_run_in_the_bounded_thread_pool(runner: Runner, probe: Probe) -> None:
    runner.submit([(n, [_attempt("sync.wait", uuid.uuid4(), ms=30, tag=str(n))]) for n in range(12)])
    finished = _collect(runner, 12)
    assert all(isinstance(done.outcome, Succeeded) for done in finished)
    assert {
        done.outcome.result["thread"].split("_")[0] for done in finished if isinstance(done.outcome, Succeeded)
    } == {"handler"}
    assert 2 <= probe.most <= 4


def test_an_attempt_past_its_deadline_is_a_transient_failure_and_ends_the_chain(runner: Runner) -> None:
    user = uuid.uuid4()
    started = time.monotonic()
    runner.submit([(0, [_attempt("slow", user), _attempt("async.wait", user)])])
    [done] = _collect(runner, 1)
    assert isinstance(done.outcome, Retry)
    assert done.outcome.error["exception"] == "HandlerTimeout"
    assert "timeout of 0.05 s" in done.outcome.error["message"]
    assert done.last
    assert time.monotonic() - started < 5  # the handler's own 5 s sleep was not waited for


@pytest.mark.parametrize(
    ("type_", "ends"),
    [("async.wait", False), ("flaky", True), ("poison", True), ("ledger", True), ("unknown.type", False)],
)
def test_a_chain_goes_on_only_after_an_outcome_that_needs_no_recording_first(
    runner: Runner, type_: str, ends: bool
) -> None:
    user = uuid.uuid4()
    runner.submit([(0, [_attempt(type_, user), _attempt("async.wait", user)])])
    finished = _collect(runner, 1 if ends else 2)
    # A marker chain, submitted now, finishes after anything chain 0 went on to (one loop, in order).
    runner.submit([(1, [_attempt("async.wait", uuid.uuid4())])])
    while not any(done.chain == 1 for done in finished):
        finished += _collect(runner, 1)
    finished = [done for done in finished if done.chain == 0]
    assert len(finished) == (1 if ends else 2)
    assert finished[-1].last
    if type_ == "unknown.type":
        assert isinstance(finished[0].outcome, DeadLetter) and finished[0].outcome.cause == "invalid"


def test_each_handler_call_is_timed_for_the_metrics(probe: Probe) -> None:
    timed: list[tuple[str, float]] = []
    runner = Runner(
        _registry(probe),
        RetryPolicy(5, 0.1, 1.0),
        "continue",
        timeout_s=DEADLINE_S,
        threads=1,
        max_result_bytes=1024,
        timed=lambda type_, seconds: timed.append((type_, seconds)),
    )
    try:
        runner.submit([(0, [_attempt("async.wait", uuid.uuid4(), ms=30, tag="a")])])
        _collect(runner, 1)
    finally:
        runner.close()
    [(type_, seconds)] = timed
    assert type_ == "async.wait" and seconds >= 0.03
