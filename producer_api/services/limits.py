"""Per-user limits on submitting: a rate (token bucket) and a cap on requests not yet terminal.

Both cost the same with 10 or 10 million requests queued, and neither needs PostgreSQL on the request
path, so acceptance goes on while PostgreSQL is away (`../shared/CONTRACT.md`, guarantee 1):

- The rate is a token bucket per user in each API process (`SUBMIT_RATE_PER_S`, `SUBMIT_BURST`): with N
  API processes behind a balancer a user can reach N times the rate, as with any per-instance limiter.
- The pending cap (`MAX_PENDING_PER_USER`) is checked against the user's count of requests not yet
  terminal, read from PostgreSQL (a count that stops at the cap, so it costs at most the cap, whatever
  the backlog), plus what this process accepted for them since. The count is read again after a second
  once that sum reaches half the cap, after 30 seconds below it: a user far from the cap costs one
  query in 30 seconds. So other API processes' acceptances are seen late: the cap may be overshot by
  what they accepted meanwhile. While PostgreSQL is away the last count stands, and a user this
  process has never counted is admitted on the rate alone.

What is refused takes nothing; a submission that fails after its admission gives its pending back.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from producer_api.errors import RateLimited, UserQueueFull
from store import requests

log = structlog.get_logger(__name__)

_COUNT_MAX_AGE_S = 1.0  # a user's pending count is read again after this long, from half the cap on
_COUNT_MAX_AGE_FAR_S = 30.0  # and after this long below half the cap
_USERS_KEPT = 100_000  # users whose bucket and count a process keeps (least recently seen go first)


@dataclass(frozen=True)
class SubmitLimits:
    rate_per_s: float
    burst: int
    max_pending: int


@dataclass
class TokenBucket:
    """`burst` tokens at most, refilled at `rate_per_s`; a submission of n requests takes n."""

    tokens: float
    at: float  # the clock reading of `tokens`

    def take(self, count: int, limits: SubmitLimits, now: float) -> float:
        """Take `count` tokens and return 0, or take none and return the seconds until there are enough."""
        self.tokens = min(float(limits.burst), self.tokens + (now - self.at) * limits.rate_per_s)
        self.at = now
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / limits.rate_per_s


@dataclass
class _User:
    bucket: TokenBucket
    counted: int | None = None  # not yet terminal, at the last count (None: never counted)
    counted_at: float = -math.inf
    since: int = 0  # admitted by this process since that count
    counting: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int | None:
        return None if self.counted is None else self.counted + self.since


class UserLimits:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        limits: SubmitLimits,
        clock: Callable[[], float] = time.monotonic,
        count: Callable[[uuid.UUID], Awaitable[int]] | None = None,
    ) -> None:
        self._pool = pool
        self._limits = limits
        self._clock = clock
        self._count = count or self._count_pending
        self._users: OrderedDict[uuid.UUID, _User] = OrderedDict()

    @asynccontextmanager
    async def admitted(self, user_id: uuid.UUID, count: int) -> AsyncIterator[None]:
        """Admit `count` requests of the user for the block (`RateLimited` or `UserQueueFull` otherwise,
        and nothing is taken); when the block fails, they no longer count as pending."""
        user = await self._admit(user_id, count)
        try:
            yield
        except BaseException:
            user.since -= count
            raise

    async def _admit(self, user_id: uuid.UUID, count: int) -> _User:
        limits = self._limits
        user = self._user(user_id)
        await self._recount(user_id, user)
        pending = user.pending
        if pending is not None and pending + count > limits.max_pending:
            raise UserQueueFull(pending, limits.max_pending)
        wait = user.bucket.take(count, limits, self._clock())
        if wait:
            raise RateLimited(limits.rate_per_s, limits.burst, max(1, math.ceil(wait)))
        user.since += count
        return user

    def _user(self, user_id: uuid.UUID) -> _User:
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = _User(TokenBucket(float(self._limits.burst), self._clock()))
            if len(self._users) > _USERS_KEPT:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user_id)
        return user

    async def _recount(self, user_id: uuid.UUID, user: _User) -> None:
        """Bring the user's count up to date when it is too old (see the module's docstring): one query
        at a time per user, which concurrent submissions of theirs share."""
        pending = user.pending
        far = pending is not None and 2 * pending < self._limits.max_pending
        if self._clock() - user.counted_at < (_COUNT_MAX_AGE_FAR_S if far else _COUNT_MAX_AGE_S):
            return
        if user.counting is None:
            user.counting = asyncio.ensure_future(self._read_count(user_id, user))
        await asyncio.shield(user.counting)

    async def _read_count(self, user_id: uuid.UUID, user: _User) -> None:
        started = self._clock()
        since = user.since
        try:
            counted = await self._count(user_id)
        except psycopg.Error as exc:  # the last count stands (or none: the rate alone)
            log.warning("pending count unavailable; admitting on what is known", error=str(exc))
            user.counted_at = started  # not again before a second has passed
        else:
            # what was admitted while the count ran may or may not be in it: counted, to stay under the cap
            user.counted, user.counted_at, user.since = counted, started, user.since - since
        finally:
            user.counting = None

    async def _count_pending(self, user_id: uuid.UUID) -> int:
        """The user's requests not yet terminal, counted up to one past the cap (index requests_pending)."""
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    f"""select count(*) from (
                            select 1 from requests where user_id = %s and {requests.PENDING} limit %s) as p""",
                    (user_id, self._limits.max_pending + 1),
                )
            ).fetchone()
        assert row is not None
        return int(row[0])
