"""The queue manager: pause and resume, purge, operators' versions and overview, queue life."""

from __future__ import annotations

import json
from typing import Any

import httpx

from harness.checks import check, read_messages
from harness.processes import free_port, wait_for_log
from harness.stack import Client, Stack, make_admin
from tests.support.scenario import outbox_count
from tests.support.waits import wait_until

QUICK_JANITOR = {"JANITOR_INTERVAL_S": "0.3", "STREAM_HEARTBEAT_S": "1"}


def _requests(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    with stack.db() as conn, conn.cursor() as cur:
        cur.execute(
            """select request_id::text, status, attempts, processed_seq, parked from requests
                where user_id = %s order by sequence""",
            (user_id,),
        )
        names = ("request_id", "status", "attempts", "processed_seq", "parked")
        return [dict(zip(names, row, strict=True)) for row in cur]


def _queue_row(stack: Stack, user_id: str) -> tuple[Any, ...] | None:
    with stack.db() as conn:
        return conn.execute("select user_id from user_queues where user_id = %s", (user_id,)).fetchone()


def _janitor_round(stack: Stack, api: str) -> None:
    """Return once a janitor round ran after this call: a user of its own, with a drained queue, logs out
    and its queue is removed. That round also judged every other queue."""
    witness = stack.client(api)
    assert witness.http.post("/v1/queue/resume").status_code == 200  # creates its (drained) queue
    assert witness.http.post("/v1/auth/logout").status_code == 204
    wait_until(lambda: _queue_row(stack, witness.user_id) is None, 10, "a janitor round removing a witness's queue")


def test_a_paused_queue_accepts_but_starts_nothing_until_resumed(stack: Stack, api: str) -> None:
    stack.start_worker()
    client, neighbour = stack.client(api), stack.client(api)
    client.submit("demo.echo", {"n": 0})
    stack.wait_terminal(1)

    paused = client.http.post("/v1/queue/pause").json()
    assert (paused["paused"], paused["paused_by"], paused["state"]) == (True, "user", "drained")
    waiting = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(1, 6)]
    neighbour.submit("demo.echo", {})
    stack.wait_terminal(2, pending=5)  # the neighbour's ran; ours wait
    wait_until(lambda: all(r["parked"] for r in _requests(stack, client.user_id)[1:]), 30, "ours read and parked")
    assert [r["status"] for r in _requests(stack, client.user_id)][1:] == ["queued"] * 5
    assert client.http.get("/v1/queue").json()["depth"] == 5

    resumed = client.http.post("/v1/queue/resume").json()
    assert (resumed["paused"], resumed["paused_by"]) == (False, None)
    stack.wait_terminal(7)
    rows = _requests(stack, client.user_id)
    assert [r["request_id"] for r in rows[1:]] == waiting
    assert [(r["status"], r["processed_seq"]) for r in rows] == [("succeeded", n) for n in range(1, 7)]
    wait_until(lambda: outbox_count(stack) == 0, 30, "the wake-up and the results published, their rows deleted")


def test_a_resume_whose_wake_up_the_broker_does_not_take_is_done_and_the_outbox_wakes_the_queue(
    stack: Stack, api: str
) -> None:
    stack.start_worker(OUTBOX_SWEEP_INTERVAL_S="1")
    client = stack.client(api)
    assert client.http.post("/v1/queue/pause").status_code == 200
    waiting = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(3)]
    wait_until(lambda: [r["parked"] for r in _requests(stack, client.user_id)] == [True] * 3, 30, "ours parked")

    cut_off = stack.start_api(
        probe="/healthz", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", PRODUCE_TIMEOUT_S="1"
    )
    client.http.base_url = httpx.URL(cut_off)
    resumed = client.http.post("/v1/queue/resume")
    assert resumed.status_code == 200, resumed.text  # committed; its wake-up waits in the outbox
    assert resumed.json()["paused"] is False
    assert "wake-up not delivered; the outbox keeps it" in stack.processes[-1].log_path.read_text()

    stack.wait_terminal(3)  # a worker's outbox sweep published the wake-up
    rows = _requests(stack, client.user_id)
    assert [(r["request_id"], r["status"], r["processed_seq"]) for r in rows] == [
        (request_id, "succeeded", n) for n, request_id in enumerate(waiting, 1)
    ]
    wait_until(lambda: outbox_count(stack) == 0, 30, "the outbox emptied")


def test_a_retry_due_while_paused_waits_for_the_resume(stack: Stack, api: str) -> None:
    worker = stack.start_worker()
    client = stack.client(api)
    flaky = client.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 2})["request_id"]
    after = client.submit("demo.echo", {})["request_id"]
    wait_until(lambda: _requests(stack, client.user_id)[0]["status"] == "retrying", 30, "the first attempt failed")
    client.http.post("/v1/queue/pause")
    wait_for_log(worker, "queue paused; the retry waits for its resume")  # the retry fell due, and was not run
    assert [r["status"] for r in _requests(stack, client.user_id)] == ["retrying", "queued"]

    client.http.post("/v1/queue/resume")
    stack.wait_terminal(2)
    rows = _requests(stack, client.user_id)
    assert [(r["request_id"], r["status"], r["attempts"]) for r in rows] == [
        (flaky, "succeeded", 2),
        (after, "succeeded", 1),
    ]


def test_purge_cancels_the_waiting_requests_in_order_while_one_runs(stack: Stack, api: str) -> None:
    stack.start_worker(BATCH_MAX_RECORDS="1")
    client = stack.client(api)
    ids = [client.submit("demo.sleep", {"ms": 400})["request_id"] for _ in range(8)]
    wait_until(lambda: _requests(stack, client.user_id)[0]["status"] == "succeeded", 30, "the first request done")

    purged = client.http.post("/v1/queue/purge")
    assert purged.status_code == 200, purged.text
    body = purged.json()
    assert body["queue"]["depth"] <= 1  # at most the request running now: a purge waits for nothing
    stack.wait_terminal(8)

    rows = _requests(stack, client.user_id)
    statuses = [r["status"] for r in rows]
    ran = statuses.count("succeeded")
    assert statuses == ["succeeded"] * ran + ["cancelled"] * (8 - ran)  # none ran after a cancelled one
    assert 8 - ran >= 4, statuses  # nothing waited for the purge, and nothing started after it
    assert body["cancelled"] == ids[ran:]
    # the running request finishes after the cancellations: its number comes after theirs (docs/queues.md)
    assert sorted(r["processed_seq"] for r in rows) == list(range(1, 9))
    cancelled_seqs = [r["processed_seq"] for r in rows if r["status"] == "cancelled"]
    assert cancelled_seqs == sorted(cancelled_seqs)
    with stack.db() as conn:
        logged = conn.execute(
            "select request_id::text from request_events where user_id = %s and status = 'cancelled' order by seq",
            (client.user_id,),
        ).fetchall()
    assert [row[0] for row in logged] == ids[ran:]
    # one result event per request, cancelled ones included, in the order they became terminal
    wait_until(lambda: len(read_messages(stack, stack.settings.results_topic)) >= 8, 30, "8 result events")
    results = [json.loads(m.value or b"") for m in read_messages(stack, stack.settings.results_topic)]
    terminal_order = sorted(rows, key=lambda r: r["processed_seq"])
    assert [(r["request_id"], r["status"]) for r in results] == [(r["request_id"], r["status"]) for r in terminal_order]


def test_purge_during_a_retry_numbers_the_cancellations_before_the_retried_request(stack: Stack, api: str) -> None:
    """The contract (docs/queues.md, docs/failures.md): `processed_seq` counts the user's terminal states in
    the order they are committed. A purge makes the waiting requests terminal at once, so they take the
    next numbers; the request waiting for its retry was started before the purge and finishes after it,
    with the number after theirs. The checker holds every scenario to that same rule."""
    stack.start_worker()
    client = stack.client(api)
    flaky = client.submit("demo.flaky", {"fail_times": 1, "retry_after_s": 3})["request_id"]
    waiting = [client.submit("demo.echo", {"n": n})["request_id"] for n in range(2)]
    wait_until(lambda: _requests(stack, client.user_id)[0]["status"] == "retrying", 30, "the first attempt failed")

    purged = client.http.post("/v1/queue/purge")
    assert purged.status_code == 200, purged.text
    assert purged.json()["cancelled"] == waiting
    after = client.submit("demo.echo", {"n": "after the purge"})["request_id"]
    stack.wait_terminal(4)

    rows = _requests(stack, client.user_id)
    assert [(r["request_id"], r["status"], r["processed_seq"]) for r in rows] == [
        (flaky, "succeeded", 3),
        (waiting[0], "cancelled", 1),
        (waiting[1], "cancelled", 2),
        (after, "succeeded", 4),
    ]
    wait_until(lambda: len(read_messages(stack, stack.settings.results_topic)) >= 4, 30, "4 result events")
    results = [json.loads(m.value or b"") for m in read_messages(stack, stack.settings.results_topic)]
    assert [r["request_id"] for r in results] == [*waiting, flaky, after]
    report = check(stack, {client.user_id: [flaky, *waiting, after]}, expect_dead=lambda _: False)
    assert report.problems == []
    assert report.order_violations == 0


def test_operators_pause_resume_and_purge_any_queue_and_see_the_overview(stack: Stack, api: str) -> None:
    admin = make_admin(stack, api)
    shallow, deep = stack.client(api), stack.client(api)
    shallow.submit("demo.echo", {})
    for _ in range(3):
        deep.submit("demo.echo", {})

    overview = admin.http.get("/v1/admin/queues", params={"order": "depth"}).json()
    assert (overview["active_queues"], overview["pending_requests"]) == (2, 4)
    assert [q["user_id"] for q in overview["queues"]] == [deep.user_id, shallow.user_id]
    assert overview["queues"][0]["depth"] == 3
    oldest = admin.http.get("/v1/admin/queues", params={"order": "oldest", "limit": 1}).json()
    assert [q["user_id"] for q in oldest["queues"]] == [shallow.user_id]

    paused = admin.http.post(f"/v1/admin/queues/{deep.user_id}/pause").json()
    assert paused["paused_by"] == "admin"
    refused = deep.http.post("/v1/queue/resume")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "paused_by_operator"
    deep.http.post("/v1/queue/pause")  # a user's pause does not weaken an operator's
    assert admin.http.get(f"/v1/admin/queues/{deep.user_id}").json()["paused_by"] == "admin"

    stack.start_worker()
    stack.wait_terminal(1, pending=3)
    purged = admin.http.post(f"/v1/admin/queues/{deep.user_id}/purge").json()
    assert len(purged["cancelled"]) == 3
    assert purged["queue"]["state"] == "drained"
    assert admin.http.post(f"/v1/admin/queues/{deep.user_id}/resume").json()["paused"] is False
    assert admin.http.get("/v1/admin/queues").json()["pending_requests"] == 0
    unknown = "00000000-0000-0000-0000-000000000001"
    for method, path in (("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("POST", "/purge")):
        assert admin.http.request(method, f"/v1/admin/queues/{unknown}{path}").status_code == 404


def test_a_queue_is_created_drained_and_removed_once_its_user_disconnects(stack: Stack) -> None:
    api = stack.start_api(**QUICK_JANITOR)
    client = stack.client(api)
    assert client.http.get("/v1/queue").json()["state"] == "none"
    request_id = client.submit("demo.echo", {})["request_id"]
    assert client.http.get("/v1/queue").json()["state"] == "active"
    stack.start_worker()
    stack.wait_terminal(1)
    assert client.http.get("/v1/queue").json()["state"] == "drained"
    _janitor_round(stack, api)
    assert client.http.get("/v1/queue").json()["state"] == "drained", "removed while its user is connected"

    assert client.http.post("/v1/auth/logout").status_code == 204
    wait_until(lambda: _queue_row(stack, client.user_id) is None, 10, "the queue removed after the logout")
    again = Client(api, client.username, register=False)
    stack.clients.append(again)
    assert again.http.get("/v1/queue").json()["state"] == "removed"
    assert again.http.get(f"/v1/requests/{request_id}").json()["status"] == "succeeded"  # history stays
    again.submit("demo.echo", {})
    assert again.http.get("/v1/queue").json()["state"] in ("active", "drained")
    assert _queue_row(stack, client.user_id) is not None


def test_an_open_stream_keeps_its_user_connected(stack: Stack) -> None:
    api = stack.start_api(**QUICK_JANITOR)
    stack.start_worker()
    client = stack.client(api)
    client.submit("demo.echo", {})
    stack.wait_terminal(1)
    with client.http.stream("GET", "/v1/stream") as stream:
        assert stream.status_code == 200
        with stack.db() as conn:  # the access token's lifetime ends: only the stream keeps the user connected
            conn.execute("update sessions set access_expires_at = now() where user_id = %s", (client.user_id,))
        _janitor_round(stack, api)
        assert _queue_row(stack, client.user_id) is not None, "removed while its user has a stream open"
    wait_until(lambda: _queue_row(stack, client.user_id) is None, 10, "the queue removed after the stream ended")


def test_a_paused_queue_is_not_removed(stack: Stack) -> None:
    api = stack.start_api(**QUICK_JANITOR)
    client = stack.client(api)
    client.http.post("/v1/queue/pause")
    client.http.post("/v1/auth/logout")
    _janitor_round(stack, api)
    assert _queue_row(stack, client.user_id) is not None
