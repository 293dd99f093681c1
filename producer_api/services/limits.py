"""Per-user limits on submitting: a rate (token bucket) and a cap on requests not yet terminal.

Both live in PostgreSQL so that every API process enforces the same numbers. The pending cap is checked
before acceptance, so concurrent submissions of one user may overshoot it by the few in flight.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from producer_api.errors import RateLimited, UserQueueFull


@dataclass(frozen=True)
class SubmitLimits:
    rate_per_s: float
    burst: int
    max_pending: int


class UserLimits:
    def __init__(self, pool: AsyncConnectionPool, limits: SubmitLimits) -> None:
        self._pool = pool
        self._limits = limits

    async def admit(self, user_id: uuid.UUID, count: int) -> None:
        """Take `count` tokens from the user's bucket, within the pending cap; `RateLimited` or `UserQueueFull`
        otherwise (and nothing is taken). One statement (migration 0008)."""
        limits = self._limits
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "select tokens, pending, admitted from admit_submission(%s, %s, %s, %s, %s)",
                    (user_id, count, limits.rate_per_s, float(limits.burst), limits.max_pending),
                )
            ).fetchone()
        assert row is not None
        tokens, pending, admitted = row
        if admitted:
            return
        if tokens < count:
            wait = math.ceil((count - tokens) / limits.rate_per_s)
            raise RateLimited(limits.rate_per_s, limits.burst, wait)
        raise UserQueueFull(pending, limits.max_pending)
