"""What becomes of one attempt: success, another try later, or a dead letter (pure, no I/O)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream_worker.errors import TransientError

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay: float
    max_delay: float

    def for_type(self, max_attempts: int | None) -> RetryPolicy:
        """This policy with a request type's own `max_attempts`, when it has one."""
        return self if max_attempts is None else RetryPolicy(max_attempts, self.base_delay, self.max_delay)

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential backoff with equal jitter: half the step is fixed, half random, capped."""
        step = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(step / 2 + rand() * step / 2)


@dataclass(frozen=True)
class Succeeded:
    result: JSONObject


@dataclass(frozen=True)
class Retry:
    delay: float
    error: JSONObject


@dataclass(frozen=True)
class DeadLetter:
    cause: str  # "permanent", "max_attempts", "invalid"
    error: JSONObject


Outcome = Succeeded | Retry | DeadLetter


def error_info(exc: BaseException, kind: str) -> JSONObject:
    return {"kind": kind, "exception": type(exc).__name__, "message": str(exc)[:2000]}


def decide(exc: BaseException, attempt: int, policy: RetryPolicy) -> Retry | DeadLetter:
    """The outcome of an attempt that raised `exc`."""
    if not isinstance(exc, TransientError):
        return DeadLetter("permanent", error_info(exc, "permanent"))
    error = error_info(exc, "transient")
    if attempt >= policy.max_attempts:
        return DeadLetter("max_attempts", error)
    delay = exc.delay if exc.delay is not None else policy.backoff(attempt)
    return Retry(min(delay, policy.max_delay), error)
