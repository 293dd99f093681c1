"""The request log: every state transition in `request_events`, and the per-minute SQL views over it."""

from __future__ import annotations

from harness.stack import Stack, make_admin
from tests.support.scenario import FAST_RETRIES
from tests.support.waits import wait_until


def test_every_transition_is_logged_with_attempt_actor_and_error(stack: Stack, api: str) -> None:
    stack.start_worker(**FAST_RETRIES, MAX_ATTEMPTS="2")
    client = stack.client(api)
    flaky = client.submit("demo.flaky", {"fail_times": 1})["request_id"]
    poison = client.submit("demo.poison", {})["request_id"]
    stack.wait_terminal(2)
    admin = make_admin(stack, api)
    assert admin.http.post(f"/v1/admin/dead-letters/{poison}/redrive").status_code == 202
    stack.wait_terminal(2)

    with stack.db() as conn:
        log = conn.execute(
            """select seq, request_id::text, status, attempt, actor, error is not null
                 from request_events where user_id = %s order by seq""",
            (client.user_id,),
        ).fetchall()
    assert [row[0] for row in log] == list(range(1, len(log) + 1))
    assert [row[1:] for row in log] == [
        (flaky, "queued", 0, "api", False),
        (poison, "queued", 0, "api", False),
        (flaky, "processing", 1, "worker-1", False),
        (flaky, "retrying", 1, "worker-1", True),
        (flaky, "processing", 2, "worker-1", False),
        (flaky, "succeeded", 2, "worker-1", False),
        (poison, "processing", 1, "worker-1", False),
        (poison, "dead_lettered", 1, "worker-1", True),
        (poison, "retrying", 1, "admin", True),  # redriven: back into the user's order
        (poison, "processing", 2, "worker-1", False),
        (poison, "dead_lettered", 2, "worker-1", True),
    ]


def test_the_views_count_throughput_latency_and_failures_per_minute(stack: Stack, api: str) -> None:
    stack.start_worker(**FAST_RETRIES)
    client = stack.client(api)
    for _ in range(3):
        client.submit("demo.echo", {})
    client.submit("demo.flaky", {"fail_times": 2})
    client.submit("demo.poison", {})
    stack.wait_terminal(5)

    with stack.db() as conn:
        throughput = conn.execute(
            """select type, sum(accepted), sum(attempts), sum(succeeded), sum(dead_lettered), sum(cancelled)
                 from throughput_per_minute group by type order by type"""
        ).fetchall()
        latency = conn.execute(
            "select type, sum(completed), min(end_to_end_p50_ms) >= 0 from latency_per_minute group by type"
            " order by type"
        ).fetchall()
        failures = conn.execute(
            "select type, sum(retries), sum(dead_lettered) from failures_per_minute group by type order by type"
        ).fetchall()
    assert throughput == [
        ("demo.echo", 3, 3, 3, 0, 0),
        ("demo.flaky", 1, 3, 1, 0, 0),
        ("demo.poison", 1, 1, 0, 1, 0),
    ]
    assert latency == [("demo.echo", 3, True), ("demo.flaky", 1, True), ("demo.poison", 1, True)]
    assert failures == [("demo.flaky", 2, 0), ("demo.poison", 0, 1)]


def test_retention_deletes_old_requests_with_their_log_and_keeps_open_dead_letters(stack: Stack) -> None:
    api = stack.start_api(JANITOR_INTERVAL_S="0.3", RETENTION_DAYS="30")
    stack.start_worker()
    client = stack.client(api)
    old, dead, recent = (client.submit(t, {})["request_id"] for t in ("demo.echo", "demo.poison", "demo.echo"))
    stack.wait_terminal(3)
    with stack.db() as conn:
        conn.execute(
            "update requests set completed_at = now() - interval '31 days' where request_id = any(%s)", ([old, dead],)
        )
    wait_until(lambda: _left(stack, client.user_id) == {dead, recent}, 10, "the old request deleted, the others kept")
    with stack.db() as conn:
        logged = conn.execute("select request_id::text from request_events where user_id = %s", (client.user_id,))
        assert {row[0] for row in logged} == {dead, recent}, "the log of a deleted request is deleted with it"


def _left(stack: Stack, user_id: str) -> set[str]:
    with stack.db() as conn:
        rows = conn.execute("select request_id::text from requests where user_id = %s", (user_id,)).fetchall()
    return {row[0] for row in rows}
