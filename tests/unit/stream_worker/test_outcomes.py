from __future__ import annotations

import pytest

from request_types.errors import PermanentError, TransientError, Unrecordable
from stream_worker.outcomes import DeadLetter, Retry, RetryPolicy, decide, error_info, recordable

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


def test_what_postgresql_or_kafka_cannot_carry_is_a_permanent_failure() -> None:
    assert recordable({"text": "fine", "escaped": "a literal \\u0000"}, 1000) == {
        "text": "fine",
        "escaped": "a literal \\u0000",
    }
    for bad, why in (
        ({"text": "a\x00b"}, "NUL"),
        ({"blob": "x" * 2000}, "MAX_RESULT_BYTES"),
        (["not", "an", "object"], "JSON object"),
        ({"set": {1, 2}}, "not JSON"),
    ):
        with pytest.raises(Unrecordable, match=why):
            recordable(bad, 1000)
    outcome = decide(Unrecordable("too big"), 1, RetryPolicy(5, 1.0, 60.0))
    assert isinstance(outcome, DeadLetter) and outcome.cause == "permanent"


def test_an_error_message_is_made_storable() -> None:
    info = error_info(ValueError("nul \x00 and a lone surrogate \udc80"), "permanent")
    assert info["message"] == "nul \\u0000 and a lone surrogate ?"
    info["message"].encode("utf-8")  # no longer raises


def test_an_error_said_to_be_transient_is_retried_whatever_its_class() -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=10.0)
    refused = RuntimeError("canceling statement due to lock timeout")
    assert isinstance(decide(refused, 1, policy, transient=True), Retry)
    assert decide(refused, 2, policy, transient=True) == DeadLetter("max_attempts", error_info(refused, "transient"))
    later = TransientError("later")
    assert decide(later, 1, policy, transient=False) == DeadLetter("permanent", error_info(later, "permanent"))
