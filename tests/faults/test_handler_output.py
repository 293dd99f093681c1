"""Handler output PostgreSQL or the wire refuses, and database errors a handler's step meets, cost one
request at most: it is dead-lettered with its cause (a transient refusal after its retries), the user's
next request and the partition's other users go on, and the worker stays up (docs/failures.md, "The
worst outcome")."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from harness.checks import check
from harness.stack import Client, Stack
from tests.support.handlers import NOTES_TABLE
from tests.support.scenario import terminal_count
from tests.support.waits import wait_until

pytestmark = pytest.mark.partitions(1)  # the misbehaving request, the user's next one and another user's share it

ENV = {"HANDLER_MODULES": json.dumps(["request_types.builtin", "tests.support.handlers"])}


def _only_it_dead_lettered(
    stack: Stack, user: tuple[Client, list[str]], other: tuple[Client, list[str]], attempts: int
) -> dict[str, Any]:
    """The first request of `user` is dead-lettered after `attempts`; all else succeeded, in order, once,
    on every topic (the checker). Its error."""
    (client, [bad, *_]) = user
    view: dict[str, Any] = client.http.get(f"/v1/requests/{bad}").json()
    assert (view["status"], view["attempts"]) == ("dead_lettered", attempts), view
    report = check(
        stack,
        {client.user_id: user[1], other[0].user_id: other[1]},
        expect_dead=lambda r: r["request_id"] == bad,
    )
    assert report.problems == []
    error: dict[str, Any] = view["error"]
    return error


@pytest.mark.parametrize(
    ("how", "cause", "exception", "attempts"),
    [
        ("nul_result", "permanent", "Unrecordable", 1),  # jsonb refuses \u0000
        ("nul_error", "permanent", "ValueError", 1),
        ("surrogate_error", "permanent", "ValueError", 1),  # UTF-8 cannot encode it
        ("swallowed_db_error", "permanent", "StepLeftTransactionAborted", 1),  # the savepoint cannot be released
        ("refused_index_row", "permanent", "ProgramLimitExceeded", 1),  # an index row over 2,704 bytes
        ("cancelled_statement", "max_attempts", "QueryCanceled", 2),  # statement_timeout: transient, retried
        ("lock_timeout", "max_attempts", "LockNotAvailable", 2),  # lock_timeout: transient, retried
    ],
)
def test_one_request_is_dead_lettered_and_the_worker_stays_up(
    stack: Stack, how: str, cause: str, exception: str, attempts: int
) -> None:
    with stack.db() as conn:
        conn.execute(NOTES_TABLE)
    api = stack.start_api(**ENV)
    worker = stack.start_worker(**ENV, RETRY_BASE_DELAY_S="0.05")
    client, other = stack.client(api), stack.client(api)
    text = secrets.token_urlsafe(6_000)  # random: PostgreSQL cannot compress it below the index row limit
    with stack.db() as locker, locker.transaction():
        if how == "lock_timeout":  # held until the step's attempts are over
            locker.execute("lock table test_notes in access share mode")
        bad = client.submit("test.misbehave", {"how": how, "text": text})["request_id"]
        after = client.submit("demo.echo", {"after": True})["request_id"]
        beside = other.submit("demo.echo", {"beside": True})["request_id"]
        wait_until(lambda: terminal_count(stack) == 3 or not worker.alive(), 60, "three requests terminal")
    assert worker.alive(), worker.tail()

    error = _only_it_dead_lettered(stack, (client, [bad, after]), (other, [beside]), attempts)
    assert (error["cause"], error["exception"]) == (cause, exception), error


def test_a_request_that_kills_its_worker_each_time_is_dead_lettered_after_max_record_crashes(stack: Stack) -> None:
    api = stack.start_api(**ENV)
    crashes = 2
    env = {**ENV, "MAX_RECORD_CRASHES": str(crashes)}
    client, other = stack.client(api), stack.client(api)
    killer = client.submit("test.misbehave", {"how": "kill_worker"})["request_id"]
    after = client.submit("demo.echo", {"after": True})["request_id"]
    beside = other.submit("demo.echo", {"beside": True})["request_id"]
    workers = [stack.start_worker(**env)]
    while terminal_count(stack) < 3:  # a supervisor: a worker that died is replaced, a few times at most
        worker = workers[-1]
        wait_until(lambda: terminal_count(stack) == 3 or not worker.alive(), 60, "the requests or a crash")  # noqa: B023
        if not worker.alive():
            assert len(workers) <= crashes, f"{len(workers)} workers died, MAX_RECORD_CRASHES is {crashes}"
            workers.append(stack.start_worker(**env))
    assert [w.alive() for w in workers] == [False] * crashes + [True]  # it killed two, the third stays up

    error = _only_it_dead_lettered(stack, (client, [killer, after]), (other, [beside]), 1)
    assert (error["cause"], error["crashes"]) == ("crashed_worker", crashes), error
