"""What becomes of one attempt: success, another try later, or a dead letter (pure, no I/O)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from request_types.errors import TransientError, Unrecordable

JSONObject = dict[str, Any]
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # a NUL character as JSON writes it, not an escaped backslash


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
    cause: str  # "permanent", "max_attempts", "invalid", "crashed_worker"
    error: JSONObject


Outcome = Succeeded | Retry | DeadLetter


def error_info(exc: BaseException, kind: str) -> JSONObject:
    """What is recorded of a failure: its text made storable (PostgreSQL's jsonb refuses NUL characters
    and unpaired surrogates, which an exception's message may hold)."""
    message = str(exc)[:2000].replace("\x00", "\\u0000").encode("utf-8", "replace").decode("utf-8")
    return {"kind": kind, "exception": type(exc).__name__, "message": message}


def recordable(result: object, max_bytes: int) -> JSONObject:
    """`result` when PostgreSQL and Kafka can carry it; `Unrecordable` (a permanent failure) otherwise."""
    if not isinstance(result, dict):
        raise Unrecordable(f"a handler must return a JSON object, not {type(result).__name__}")
    try:
        encoded = orjson.dumps(result)
    except orjson.JSONEncodeError as exc:
        raise Unrecordable(f"the result is not JSON: {exc}") from None
    if _NUL.search(encoded):
        raise Unrecordable("the result holds a NUL character (\\u0000), which PostgreSQL's jsonb refuses")
    if len(encoded) > max_bytes:
        raise Unrecordable(f"the result is {len(encoded)} bytes, more than MAX_RESULT_BYTES ({max_bytes})")
    return result


def decide(exc: BaseException, attempt: int, policy: RetryPolicy, transient: bool | None = None) -> Retry | DeadLetter:
    """The outcome of an attempt that raised `exc`; `transient` says whether it is worth another attempt
    when the error's class does not (a database refusal: `db_failures`)."""
    if not (isinstance(exc, TransientError) if transient is None else transient):
        return DeadLetter("permanent", error_info(exc, "permanent"))
    error = error_info(exc, "transient")
    if attempt >= policy.max_attempts:
        return DeadLetter("max_attempts", error)
    delay = exc.delay if isinstance(exc, TransientError) and exc.delay is not None else policy.backoff(attempt)
    return Retry(min(delay, policy.max_delay), error)
