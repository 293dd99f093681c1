"""The per-user submit limits (`producer_api.services.limits`), with a fake clock and a fake pending
count: the rate, the cap, what a refusal or a failed submission takes, and PostgreSQL away."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from producer_api.errors import RateLimited, UserQueueFull
from producer_api.services.limits import SubmitLimits, UserLimits

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counts:
    """The pending counts PostgreSQL would give; `away` makes it fail as PostgreSQL away does."""

    def __init__(self) -> None:
        self.pending: dict[uuid.UUID, int] = {}
        self.reads = 0
        self.away = False

    async def __call__(self, user_id: uuid.UUID) -> int:
        self.reads += 1
        if self.away:
            raise psycopg.OperationalError("connection refused")
        return self.pending.get(user_id, 0)


def _limits(clock: Clock, counts: Counts, rate: float = 10.0, burst: int = 5, cap: int = 1000) -> UserLimits:
    pool: Any = None  # the fake count stands in for the only use of the pool
    return UserLimits(pool, SubmitLimits(rate, burst, cap), clock=clock, count=counts)


async def _admit(limits: UserLimits, user: uuid.UUID, count: int = 1) -> None:
    async with limits.admitted(user, count):
        pass


def test_a_burst_then_the_rate_then_a_refusal_with_the_wait() -> None:
    async def scenario() -> None:
        clock, counts = Clock(), Counts()
        limits = _limits(clock, counts, rate=2.0, burst=3)
        for _ in range(3):
            await _admit(limits, ALICE)
        with pytest.raises(RateLimited) as refused:
            await _admit(limits, ALICE)
        assert refused.value.retry_after == 1
        await _admit(limits, BOB)  # another user's bucket is full
        clock.now += 0.5  # one token back
        await _admit(limits, ALICE)
        with pytest.raises(RateLimited):
            await _admit(limits, ALICE, 2)
        clock.now += 1.0
        await _admit(limits, ALICE, 2)

    asyncio.run(scenario())


def test_the_pending_cap_counts_what_was_admitted_since_the_last_count() -> None:
    async def scenario() -> None:
        clock, counts = Clock(), Counts()
        counts.pending[ALICE] = 7
        limits = _limits(clock, counts, burst=100, cap=10)
        await _admit(limits, ALICE, 2)
        with pytest.raises(UserQueueFull) as full:
            await _admit(limits, ALICE, 2)
        assert full.value.message.startswith("9 ")  # 7 counted + 2 admitted since
        await _admit(limits, ALICE)
        assert counts.reads == 1  # within the second: no query per submission
        counts.pending[ALICE] = 0  # the worker drained the queue
        clock.now += 1.0
        await _admit(limits, ALICE, 10)
        assert counts.reads == 2

    asyncio.run(scenario())


def test_the_count_is_read_again_after_a_second_near_the_cap_and_after_30_s_far_from_it() -> None:
    async def scenario() -> None:
        clock, counts = Clock(), Counts()
        counts.pending[ALICE], counts.pending[BOB] = 10, 10
        limits = _limits(clock, counts, burst=1000, cap=100)
        await _admit(limits, ALICE)
        await _admit(limits, BOB)
        assert counts.reads == 2
        clock.now += 0.5
        await _admit(limits, ALICE, 45)  # 56 pending: half the cap passed
        clock.now += 1.0
        await _admit(limits, BOB)  # 12: far from the cap, a count 1.5 s old stands
        assert counts.reads == 2
        await _admit(limits, ALICE)  # near the cap: read again
        assert counts.reads == 3
        clock.now += 29.0
        await _admit(limits, BOB)
        assert counts.reads == 4

    asyncio.run(scenario())


def test_what_is_refused_takes_nothing_and_a_failed_submission_gives_its_pending_back() -> None:
    async def scenario() -> None:
        clock, counts = Clock(), Counts()
        counts.pending[ALICE] = 8
        limits = _limits(clock, counts, burst=3, cap=10)
        with pytest.raises(UserQueueFull):
            await _admit(limits, ALICE, 3)  # over the cap: no tokens taken
        with pytest.raises(RuntimeError):
            async with limits.admitted(ALICE, 2):
                raise RuntimeError("the broker did not acknowledge")
        await _admit(limits, ALICE, 1)  # the failed 2 no longer count; one token left
        with pytest.raises(RateLimited):
            await _admit(limits, ALICE, 1)

    asyncio.run(scenario())


def test_with_postgresql_away_the_last_count_stands_and_an_uncounted_user_has_the_rate_alone() -> None:
    async def scenario() -> None:
        clock, counts = Clock(), Counts()
        counts.pending[ALICE] = 9
        limits = _limits(clock, counts, burst=100, cap=10)
        await _admit(limits, ALICE)
        counts.away = True
        clock.now += 5.0
        with pytest.raises(UserQueueFull):
            await _admit(limits, ALICE)
        for _ in range(50):
            await _admit(limits, BOB)
        reads = counts.reads
        await _admit(limits, BOB)
        assert counts.reads == reads  # a failed count is not tried again within the second

    asyncio.run(scenario())


def test_concurrent_submissions_of_a_user_share_one_count() -> None:
    async def scenario() -> None:
        clock, counts = Clock(), Counts()
        limits = _limits(clock, counts, burst=100)
        await asyncio.gather(*(_admit(limits, ALICE) for _ in range(20)))
        assert counts.reads == 1

    asyncio.run(scenario())
