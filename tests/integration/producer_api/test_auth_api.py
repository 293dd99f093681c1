"""Registration, login, password rules and throttling against a real API process, PostgreSQL and Kafka.

Every way a token is refused (expired, tampered, after logout, reused refresh token, ...) is in
`test_jwt_attacks.py`.
"""

from __future__ import annotations

import threading
import time
import uuid

import httpx
from argon2 import PasswordHasher

from harness.stack import PASSWORD, Client, Stack
from producer_api.security import verify_password


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
    for body, code, says in (
        ({"username": "x", "password": "long enough pw"}, "invalid_request", "username"),
        ({"username": "bad name!", "password": "long enough pw"}, "invalid_request", "username"),
        ({"username": "ok_name", "password": "elevenchars"}, "invalid_request", "at least 12 characters"),
        ({"username": "ok_name", "password": "z" * 129}, "invalid_request", "at most 128 characters"),
        ({"username": "ada_l", "password": "I am ADA_L, hello"}, "weak_password", "must not contain the username"),
        ({"username": "ok_name", "password": "Password1234"}, "weak_password", "common passwords"),
        ({"username": "ok_name", "password": "ｑｗｅｒｔｙ１２３４５６"}, "weak_password", "common passwords"),
    ):
        response = httpx.post(f"{api}/v1/auth/register", json=body)
        assert response.status_code == 422, body
        assert set(response.json()) == {"error"}
        assert set(response.json()["error"]) == {"code", "message"}
        assert response.json()["error"]["code"] == code, body
        assert says in response.json()["error"]["message"], body
    with stack.db() as conn:
        assert conn.execute("select count(*) from users").fetchone() == (0,)


def test_any_unicode_of_12_code_points_is_a_password_and_nfkc_forms_log_in(api: str, stack: Stack) -> None:
    assert len("🔑🔐🔓🔒" * 3) == 12
    emoji = stack.client(api, password="🔑🔐🔓🔒" * 3)  # 12 code points, 36 bytes
    assert emoji.http.get("/v1/queue").status_code == 200
    # registered with the fi ligature and full-width letters, logged in with their plain forms, and back
    stack.client(api, "nfkc_one", password="ﬁne ｆｕｌｌ ｗｉｄｔｈ ｔｅｘｔ")
    Client(api, "nfkc_one", password="fine full width text", register=False).http.close()
    stack.client(api, "nfkc_two", password="fine full width text")
    Client(api, "nfkc_two", password="ﬁne ｆｕｌｌ ｗｉｄｔｈ ｔｅｘｔ", register=False).http.close()


def test_wrong_password_and_unknown_user_get_the_same_401(api: str, stack: Stack) -> None:
    stack.client(api, "linus")
    wrong = httpx.post(f"{api}/v1/auth/token", json={"username": "linus", "password": "not the password"})
    unknown = httpx.post(f"{api}/v1/auth/token", json={"username": "nobody", "password": "not the password"})
    short = httpx.post(f"{api}/v1/auth/token", json={"username": "linus", "password": "short"})
    assert wrong.status_code == unknown.status_code == short.status_code == 401
    assert wrong.json() == unknown.json() == short.json()


def test_an_unknown_user_takes_as_long_to_refuse_as_a_wrong_password(api: str, stack: Stack) -> None:
    """No user enumeration by timing: an unknown user's login verifies a dummy argon2 hash too."""
    stack.client(api, "timed_user")

    def median_s(username: str) -> float:
        times = []
        with httpx.Client(base_url=api) as http:
            for _ in range(5):
                started = time.perf_counter()
                assert http.post("/v1/auth/token", json={"username": username, "password": "x" * 12}).status_code == 401
                times.append(time.perf_counter() - started)
        return sorted(times)[2]

    known, unknown = median_s("timed_user"), median_s("no_such_user")
    assert 0.5 < unknown / known < 2, (known, unknown)


def test_a_login_rehashes_a_password_hashed_with_weaker_parameters(api: str, stack: Stack) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with stack.db() as conn:
        conn.execute(
            "insert into users (user_id, username, password_hash) values (%s, 'old_timer', %s)", (uuid.uuid4(), weak)
        )
    Client(api, "old_timer", register=False).http.close()
    with stack.db() as conn:
        row = conn.execute("select password_hash from users where username = 'old_timer'").fetchone()
    assert row is not None
    assert row[0] != weak
    assert row[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(row[0], PASSWORD)
    Client(api, "old_timer", register=False).http.close()  # and the new hash logs in


def test_a_refresh_rotates_and_logout_ends_only_its_own_session(api: str, stack: Stack) -> None:
    client = stack.client(api)
    other = Client(api, client.username, register=False)  # a second session of the same user
    rotated = client.http.post("/v1/auth/refresh", json={"refresh_token": client.refresh_token})
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != client.refresh_token
    assert client.http.post("/v1/auth/logout").status_code == 204
    assert other.http.get("/v1/requests").status_code == 200, "another session of the same user goes on"
    other.http.close()


def test_the_11th_wrong_password_in_a_window_gets_429_and_the_right_one_works_after_it(stack: Stack) -> None:
    api = stack.start_api(LOGIN_WINDOW_S="3")
    stack.client(api, "mallory_target")
    wrong = {"username": "mallory_target", "password": "not the password"}
    with httpx.Client(base_url=api) as http:
        assert [http.post("/v1/auth/token", json=wrong).status_code for _ in range(10)] == [401] * 10
        throttled = http.post("/v1/auth/token", json=wrong)
        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "too_many_attempts"
        assert 1 <= int(throttled.headers["Retry-After"]) <= 4
        right = {"username": "mallory_target", "password": PASSWORD}
        assert http.post("/v1/auth/token", json=right).status_code == 429, "throttled is throttled"
        time.sleep(int(throttled.headers["Retry-After"]))
        assert http.post("/v1/auth/token", json=right).status_code == 200


def test_concurrent_session_checks_answer_each_request_for_its_own_session(api: str, stack: Stack) -> None:
    # the session checks of concurrent requests share a statement: each must still get its own answer
    ended, kept = stack.client(api), stack.client(api)
    ended_headers = dict(ended.http.headers)
    assert ended.http.post("/v1/auth/logout").status_code == 204
    start = threading.Barrier(40)
    answers: list[tuple[str, int]] = []

    def get(n: int) -> None:
        who, headers = ("ended", ended_headers) if n % 2 else ("kept", dict(kept.http.headers))
        with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
            start.wait()
            answers.append((who, http.get("/v1/queue").status_code))

    threads = [threading.Thread(target=get, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == sorted([("ended", 401)] * 20 + [("kept", 200)] * 20)
