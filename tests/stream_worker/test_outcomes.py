from __future__ import annotations

import pytest

from stream_worker.errors import PermanentError, TransientError
from stream_worker.outcomes import DeadLetter, Retry, RetryPolicy, decide

POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=10.0)


def test_backoff_grows_exponentially_with_jitter_inside_each_step() -> None:
    assert [POLICY.backoff(n, rand=lambda: 0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [POLICY.backoff(n, rand=lambda: 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_backoff_is_capped() -> None:
    assert POLICY.backoff(20, rand=lambda: 1.0) == 10.0


def test_a_transient_error_is_retried_until_the_last_attempt() -> None:
    assert isinstance(decide(TransientError("x"), 3, POLICY), Retry)
    outcome = decide(TransientError("x"), 4, POLICY)
    assert isinstance(outcome, DeadLetter)
    assert outcome.cause == "max_attempts"


def test_a_transient_error_may_name_its_delay_within_the_cap() -> None:
    assert decide(TransientError("x", delay=3.0), 1, POLICY) == Retry(3.0, decide(TransientError("x"), 1, POLICY).error)
    retry = decide(TransientError("x", delay=99.0), 1, POLICY)
    assert isinstance(retry, Retry)
    assert retry.delay == 10.0


@pytest.mark.parametrize("exc", [PermanentError("no"), ValueError("bug"), KeyError("k")])
def test_anything_else_is_dead_lettered_at_once(exc: Exception) -> None:
    outcome = decide(exc, 1, POLICY)
    assert isinstance(outcome, DeadLetter)
    assert outcome.cause == "permanent"
    assert outcome.error["exception"] == type(exc).__name__
