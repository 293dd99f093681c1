"""Registration, tokens and authentication against a real API process, PostgreSQL and Kafka."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt

from tests.support.stack import Stack


def test_register_then_token(api: str) -> None:
    with httpx.Client(base_url=api) as http:
        created = http.post("/v1/auth/register", json={"username": "ada", "password": "analytical engine"})
        assert created.status_code == 201
        assert created.json()["username"] == "ada"
        uuid.UUID(created.json()["user_id"])
        token = http.post("/v1/auth/token", json={"username": "ada", "password": "analytical engine"})
        assert token.status_code == 200
        body = token.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        assert body["access_token"] != body["refresh_token"]


def test_a_taken_username_is_409(api: str, stack: Stack) -> None:
    stack.client(api, "grace")
    response = httpx.post(f"{api}/v1/auth/register", json={"username": "grace", "password": "another password"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"


def test_invalid_registrations_are_422_and_create_nothing(api: str, stack: Stack) -> None:
    for body in (
        {"username": "x", "password": "long enough pw"},
        {"username": "ok_name", "password": "short"},
        {"username": "bad name!", "password": "long enough pw"},
        {"username": "sneaky", "password": "long enough pw", "role": "admin"},
    ):
        response = httpx.post(f"{api}/v1/auth/register", json=body)
        assert response.status_code == 422, body
        assert set(response.json()["error"]) == {"code", "message"}
    with stack.db() as conn:
        assert conn.execute("select count(*) from users").fetchone() == (0,)


def test_wrong_password_and_unknown_user_get_the_same_401(api: str, stack: Stack) -> None:
    stack.client(api, "linus")
    wrong = httpx.post(f"{api}/v1/auth/token", json={"username": "linus", "password": "not the password"})
    unknown = httpx.post(f"{api}/v1/auth/token", json={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_requests_need_a_valid_token(api: str, stack: Stack) -> None:
    client = stack.client(api)
    claims = jwt.decode(client.token, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        "dev-only-secret-change-me-0123456789abcdef",
        algorithm="HS256",
    )
    header, _payload, signature = client.token.split(".")
    tampered = f"{header}.{jwt.encode({**claims, 'sub': str(uuid.uuid4())}, 'k' * 64).split('.')[1]}.{signature}"
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {tampered}"},
        {"Authorization": f"Basic {client.token}"},
    ):
        response = httpx.post(f"{api}/v1/requests", json={"type": "demo.echo", "payload": {}}, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
    assert client.http.get("/v1/requests").status_code == 200


def test_a_deleted_users_token_stops_working(api: str, stack: Stack) -> None:
    client = stack.client(api)
    with stack.db() as conn:
        conn.execute("delete from users where user_id = %s", (client.user_id,))
    assert client.http.get("/v1/requests").status_code == 401


def _login(api: str, stack: Stack) -> tuple[httpx.Client, dict[str, str]]:
    client = stack.client(api)
    tokens = client.http.post(
        "/v1/auth/token", json={"username": client.username, "password": "a long enough password"}
    ).json()
    return client.http, tokens


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_refresh_token_works_once_and_its_reuse_ends_the_session(api: str, stack: Stack) -> None:
    http, first = _login(api, stack)
    second = http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    fresh = second.json()
    assert http.get("/v1/requests", headers=_bearer(fresh["access_token"])).status_code == 200

    reused = http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # the reuse looks like theft: every token of the session stops working, the newest ones too
    assert http.get("/v1/requests", headers=_bearer(fresh["access_token"])).status_code == 401
    assert http.post("/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 401


def test_logout_ends_the_session_at_once(api: str, stack: Stack) -> None:
    http, tokens = _login(api, stack)
    assert http.post("/v1/auth/logout", headers=_bearer(tokens["access_token"])).status_code == 204
    assert http.get("/v1/requests", headers=_bearer(tokens["access_token"])).status_code == 401
    assert http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert http.get("/v1/requests").status_code == 200, "another session of the same user goes on"


def test_an_access_token_is_not_a_refresh_token(api: str, stack: Stack) -> None:
    http, tokens = _login(api, stack)
    assert http.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}).status_code == 401
    assert http.get("/v1/requests", headers=_bearer(tokens["refresh_token"])).status_code == 401


def test_the_11th_wrong_password_in_a_window_gets_429_and_the_right_one_works_after_it(stack: Stack) -> None:
    api = stack.start_api(LOGIN_WINDOW_S="3")
    stack.client(api, "mallory_target")
    wrong = {"username": "mallory_target", "password": "not the password"}
    with httpx.Client(base_url=api) as http:
        assert [http.post("/v1/auth/token", json=wrong).status_code for _ in range(10)] == [401] * 10
        throttled = http.post("/v1/auth/token", json=wrong)
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["Retry-After"]) <= 4
        right = {"username": "mallory_target", "password": "a long enough password"}
        assert http.post("/v1/auth/token", json=right).status_code == 429, "throttled is throttled"
        time.sleep(int(throttled.headers["Retry-After"]))
        assert http.post("/v1/auth/token", json=right).status_code == 200
