"""Login throttling: too many wrong passwords for one account, or from one address, within a window.

Counted in PostgreSQL so that every API process sees the same numbers. While a key is over its limit
every login attempt for it gets 429 with `Retry-After`, the right password included; when the window
ends the count starts again. A successful login clears its account's count (not its address's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from producer_api.errors import TooManyAttempts


@dataclass(frozen=True)
class LoginLimits:
    per_account: int
    per_address: int
    window_s: int


class LoginThrottle:
    def __init__(self, pool: AsyncConnectionPool, limits: LoginLimits) -> None:
        self._pool = pool
        self._limits = limits

    def _keys(self, username: str, address: str) -> dict[str, int]:
        return {f"user:{username.lower()}": self._limits.per_account, f"addr:{address}": self._limits.per_address}

    async def check(self, username: str, address: str) -> None:
        """Raise `TooManyAttempts` when the account or the address is over its limit in the current window."""
        keys = self._keys(username, address)
        async with self._pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "select key, window_end, failures from login_failures where key = any(%s) and window_end > now()",
                    (list(keys),),
                )
            ).fetchall()
        waits = [_seconds_until(end) for key, end, failures in rows if failures >= keys[key]]
        if waits:
            raise TooManyAttempts(max(waits))

    async def failed(self, username: str, address: str) -> None:
        async with self._pool.connection() as conn:
            for key in self._keys(username, address):
                await conn.execute(
                    """insert into login_failures (key, window_end, failures)
                       values (%(key)s, now() + make_interval(secs => %(window)s), 1)
                       on conflict (key) do update set
                           failures = case when login_failures.window_end > now()
                                           then login_failures.failures + 1 else 1 end,
                           window_end = case when login_failures.window_end > now()
                                             then login_failures.window_end else excluded.window_end end""",
                    {"key": key, "window": self._limits.window_s},
                )

    async def succeeded(self, username: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("delete from login_failures where key = %s", (f"user:{username.lower()}",))


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - datetime.now(UTC)).total_seconds()) + 1)
