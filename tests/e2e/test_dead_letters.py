"""Dead letters and the operator's actions: halt, list, redrive into the user's order, discard."""

from __future__ import annotations

from typing import Any

import pytest

from harness.stack import Client, Stack, make_admin

pytestmark = pytest.mark.partitions(1)


def _rows(stack: Stack, user_id: str) -> list[tuple[Any, ...]]:
    with stack.db() as conn:
        return conn.execute(
            "select type, status, attempts, processed_seq, parked from requests where user_id = %s order by sequence",
            (user_id,),
        ).fetchall()


def _processed_order(stack: Stack, user_id: str) -> list[str]:
    with stack.db() as conn:
        rows = conn.execute(
            "select request_id::text from requests where user_id = %s and processed_seq is not null"
            " order by processed_seq",
            (user_id,),
        ).fetchall()
    return [row[0] for row in rows]


def test_halt_holds_the_user_until_a_redrive_runs_it_first_then_the_rest_in_order(stack: Stack, api: str) -> None:
    stack.start_worker(DEAD_LETTER_POLICY="halt", MAX_ATTEMPTS="2", RETRY_BASE_DELAY_S="0.05")
    admin = make_admin(stack, api)
    user, other = stack.client(api), stack.client(api)
    failing = user.submit("demo.flaky", {"fail_times": 2})  # dead-lettered after its 2 attempts
    held = [user.submit("ledger.deposit", {"amount": n})["request_id"] for n in (5, 7)]
    other.submit("ledger.deposit", {"amount": 1})
    stack.wait_terminal(2, timeout=30, pending=2)  # the dead letter and the other's deposit; two are held

    assert _rows(stack, user.user_id) == [
        ("demo.flaky", "dead_lettered", 2, 1, False),
        ("ledger.deposit", "queued", 0, None, True),
        ("ledger.deposit", "queued", 0, None, True),
    ]
    listed = admin.http.get("/v1/admin/dead-letters", params={"user_id": user.user_id}).json()
    assert [d["request_id"] for d in listed["dead_letters"]] == [failing["request_id"]]
    assert listed["dead_letters"][0]["error"]["cause"] == "max_attempts"

    redriven = admin.http.post(f"/v1/admin/dead-letters/{failing['request_id']}/redrive")
    assert redriven.status_code == 202
    assert redriven.json()["status"] == "retrying"
    stack.wait_terminal(4, timeout=30)

    assert [r[:3] for r in _rows(stack, user.user_id)] == [
        ("demo.flaky", "succeeded", 3),
        ("ledger.deposit", "succeeded", 1),
        ("ledger.deposit", "succeeded", 1),
    ]
    assert _processed_order(stack, user.user_id) == [failing["request_id"], *held]
    assert admin.http.get("/v1/admin/dead-letters").json()["dead_letters"] == []


def test_redrive_all_of_a_users_dead_letters_keeps_their_order(stack: Stack, api: str) -> None:
    stack.start_worker(MAX_ATTEMPTS="1")
    admin = make_admin(stack, api)
    user = stack.client(api)
    first = user.submit("demo.flaky", {"fail_times": 1})["request_id"]
    user.submit("demo.echo", {})
    second = user.submit("demo.flaky", {"fail_times": 1})["request_id"]
    stack.wait_terminal(3, timeout=30)

    response = admin.http.post(f"/v1/admin/users/{user.user_id}/dead-letters/redrive")
    assert response.status_code == 202
    assert [(v["request_id"], v["status"]) for v in response.json()["requests"]] == [
        (first, "retrying"),
        (second, "queued"),
    ]
    stack.wait_terminal(3, timeout=30)
    assert [r[:3] for r in _rows(stack, user.user_id)] == [
        ("demo.flaky", "succeeded", 2),
        ("demo.echo", "succeeded", 1),
        ("demo.flaky", "succeeded", 2),
    ]
    assert _processed_order(stack, user.user_id)[-2:] == [first, second]


def test_discard_takes_a_dead_letter_off_the_list(stack: Stack, api: str) -> None:
    stack.start_worker()
    admin = make_admin(stack, api)
    user = stack.client(api)
    poison = user.submit("demo.poison", {})["request_id"]
    stack.wait_terminal(1)
    assert len(admin.http.get("/v1/admin/dead-letters", params={"type": "demo.poison"}).json()["dead_letters"]) == 1
    assert admin.http.post(f"/v1/admin/dead-letters/{poison}/discard").status_code == 200
    assert admin.http.get("/v1/admin/dead-letters").json()["dead_letters"] == []
    assert admin.http.post(f"/v1/admin/dead-letters/{poison}/discard").status_code == 404
    assert admin.http.post(f"/v1/admin/dead-letters/{poison}/redrive").status_code == 404


def test_admin_routes_need_the_admin_role(stack: Stack, api: str) -> None:
    user: Client = stack.client(api)
    request_id = user.submit("demo.echo", {})["request_id"]
    calls = [
        ("get", "/v1/admin/dead-letters"),
        ("post", f"/v1/admin/dead-letters/{request_id}/redrive"),
        ("post", f"/v1/admin/dead-letters/{request_id}/discard"),
        ("post", f"/v1/admin/users/{user.user_id}/dead-letters/redrive"),
    ]
    for method, path in calls:
        assert user.http.request(method, path).status_code == 403, path
        anonymous = user.http.request(method, path, headers={"Authorization": ""})
        assert anonymous.status_code == 401, path
