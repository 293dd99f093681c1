"""Sessions known in each API process's memory (`producer_api.services.sessions.SessionRoles`): what
ends a session's access at one process ends it at every other one, which had it in memory, as soon as
the notification arrives; and a known session costs no query."""

from __future__ import annotations

import httpx

from harness.stack import Client, Stack, make_admin
from tests.support.waits import wait_until

NOTIFIED_WITHIN_S = 5.0  # a notification takes milliseconds; the deadline only makes a failure loud


def _status(url: str, client: Client, path: str) -> int:
    with httpx.Client(base_url=url, headers=dict(client.http.headers), timeout=10) as http:
        return http.get(path).status_code


def test_a_logout_at_one_process_ends_the_session_at_another(stack: Stack) -> None:
    first, second = stack.start_api(), stack.start_api()
    user = stack.client(first)
    assert _status(second, user, "/v1/queue") == 200  # now known at the second process
    assert user.http.post("/v1/auth/logout").status_code == 204
    assert user.http.get("/v1/queue").status_code == 401, "at the process that logged out: at once"
    wait_until(
        lambda: _status(second, user, "/v1/queue") == 401 or None,
        NOTIFIED_WITHIN_S,
        "the second process to refuse the ended session",
    )


def test_a_role_taken_away_ends_admin_access_at_every_process(stack: Stack) -> None:
    first, second = stack.start_api(), stack.start_api()
    admin = make_admin(stack, first)
    assert _status(second, admin, "/v1/admin/queues") == 200
    with stack.db() as conn:
        conn.execute("update users set role = 'user' where username = %s", (admin.username,))
    for url in (first, second):
        wait_until(
            lambda url=url: _status(url, admin, "/v1/admin/queues") == 403 or None,  # type: ignore[misc]
            NOTIFIED_WITHIN_S,
            f"{url} to refuse the former admin",
        )


def test_a_known_session_costs_no_query(stack: Stack) -> None:
    api = stack.start_api()
    user = stack.client(api)
    unknown = "/v1/requests/00000000-0000-0000-0000-000000000000"
    assert user.http.get(unknown).status_code == 404  # the session is known now
    with stack.db() as conn, conn.transaction():
        conn.execute("lock table sessions in access exclusive mode")  # a read of it would wait for the commit
        with httpx.Client(base_url=api, headers=dict(user.http.headers), timeout=3) as http:
            assert [http.get(unknown).status_code for _ in range(20)] == [404] * 20
