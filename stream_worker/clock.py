"""PostgreSQL's clock in the worker: read once, carried on by the process's monotonic clock.

Times a tick writes come from it, so that they compare with what the API wrote (`accepted_at`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta


class Clock:
    """PostgreSQL's clock, read once and carried on by this process's monotonic clock."""

    def __init__(self, database_now: datetime, monotonic_then: float | None = None) -> None:
        """`database_now` was read at `monotonic_then` (default: now; better, the middle of the round trip)."""
        self._base = database_now
        self._started = time.monotonic() if monotonic_then is None else monotonic_then

    def now(self) -> datetime:
        return self.at(time.monotonic())

    def at(self, monotonic: float) -> datetime:
        """The time of a `time.monotonic()` reading."""
        return self._base + timedelta(seconds=monotonic - self._started)
