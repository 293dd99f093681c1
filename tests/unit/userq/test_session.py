"""userq/session.py: accounts, logins, one renewal of an expired access token (once for every holder of a
shared login), and every failure as a `UserqError`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from tests.unit.userq.conftest import PASSWORD
from tests.unit.userq.fake_api import URL, FakeApi, refusal
from userq.client import Client
from userq.errors import ApiError, NotLoggedIn, TransportFailed, UnexpectedResponse
from userq.session import USER_AGENT
from userq.tokens import FileTokens, MemoryTokens, Tokens


def test_register_and_login_send_no_token_and_keep_the_pair(api: FakeApi) -> None:
    store = MemoryTokens()
    with Client(URL + "/", store, transport=api.transport) as client:
        user = client.register("bob", PASSWORD)
        assert user == {"user_id": api.accounts["bob"].user_id, "username": "bob"}
        tokens = client.login("bob", PASSWORD)
        assert store.load() == tokens
        assert tokens.username == "bob"
        assert client.queue()["state"] == "drained"
    register, login, queue = api.calls
    assert str(register.url) == f"{URL}/v1/auth/register"
    assert json.loads(register.content) == {"username": "bob", "password": PASSWORD}
    assert "Authorization" not in register.headers and "Authorization" not in login.headers
    assert queue.headers["Authorization"] == f"Bearer {tokens.access_token}"
    assert {call.headers["User-Agent"] for call in api.calls} == {USER_AGENT}


def test_refusals_raise_api_error_with_the_apis_code_and_message(api: FakeApi, client: Client) -> None:
    with pytest.raises(ApiError) as taken:
        client.register("alice", PASSWORD)
    assert (taken.value.status, taken.value.code, taken.value.message) == (
        409,
        "username_taken",
        "this username is taken",
    )
    with Client(URL, transport=api.transport) as stranger:
        with pytest.raises(ApiError) as wrong:
            stranger.login("alice", "not the password")
        assert (wrong.value.status, wrong.value.code, wrong.value.message) == (
            401,
            "invalid_credentials",
            "wrong username or password",
        )
        assert stranger.tokens.load() is None
        with pytest.raises(ApiError) as anonymous:
            stranger.queue()
        assert (anonymous.value.status, anonymous.value.code) == (401, "unauthorized")


def test_an_expired_access_token_is_renewed_once_and_the_call_sent_again(api: FakeApi, client: Client) -> None:
    issued = client.tokens.load()
    api.expire_access_tokens()
    assert client.queue()["depth"] == 0
    renewed = client.tokens.load()
    assert renewed is not None and issued is not None
    assert (renewed.access_token, renewed.refresh_token) != (issued.access_token, issued.refresh_token)
    assert renewed.username == "alice"
    assert [(c.method, c.url.path) for c in api.calls[-3:]] == [
        ("GET", "/v1/queue"),
        ("POST", "/v1/auth/refresh"),
        ("GET", "/v1/queue"),
    ]
    assert json.loads(api.calls[-2].content) == {"refresh_token": issued.refresh_token}
    assert "Authorization" not in api.calls[-2].headers
    assert api.calls[-1].headers["Authorization"] == f"Bearer {renewed.access_token}"


def test_a_refused_renewal_ends_the_login(api: FakeApi, client: Client) -> None:
    api.expire_access_tokens()
    api.script("POST", "/v1/auth/refresh", refusal(401, "unauthorized", "missing, invalid or expired credentials"))
    with pytest.raises(ApiError) as ended:
        client.queue()
    assert (ended.value.status, ended.value.code) == (401, "unauthorized")
    assert client.tokens.load() is None
    assert len(api.calls_to("GET", "/v1/queue")) == 1  # not sent again


def test_a_renewal_that_fails_otherwise_keeps_the_login(api: FakeApi, client: Client) -> None:
    tokens = client.tokens.load()
    api.expire_access_tokens()
    api.script("POST", "/v1/auth/refresh", refusal(503, "unavailable", "try again", {"Retry-After": "1"}))
    with pytest.raises(ApiError) as failed:
        client.queue()
    assert failed.value.status == 503
    assert client.tokens.load() == tokens


def test_an_expired_token_is_renewed_once_for_every_process_sharing_the_login(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    with Client(URL, FileTokens(path, URL), transport=api.transport) as first:
        first.register("carol", PASSWORD)
        issued = first.login("carol", PASSWORD)
    api.expire_access_tokens()

    # six "processes" (one client and one credentials store each, one file) find the token expired at the same
    # moment; a refresh token works once and a reused one ends the session, so only one of them may spend it
    api.rejection_barrier = threading.Barrier(6)
    results: list[object] = []

    def call() -> None:
        with Client(URL, FileTokens(path, URL), transport=api.transport) as client:
            try:
                results.append(client.queue()["state"])
            except ApiError as exc:
                results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["drained"] * 6
    assert len(api.calls_to("POST", "/v1/auth/refresh")) == 1  # the others found the tokens renewed
    renewed = FileTokens(path, URL).load()
    assert renewed is not None
    assert renewed.access_token != issued.access_token
    assert renewed.refresh_token != issued.refresh_token
    assert renewed.username == "carol"


def test_refresh_swaps_the_pair_now(api: FakeApi, client: Client) -> None:
    before = client.tokens.load()
    after = client.refresh()
    assert before is not None
    assert client.tokens.load() == after
    assert after.refresh_token != before.refresh_token
    with Client(URL, transport=api.transport) as stranger, pytest.raises(NotLoggedIn):
        stranger.refresh()


def test_logout_ends_the_session_and_forgets_it(api: FakeApi, client: Client) -> None:
    tokens = client.tokens.load()
    assert tokens is not None
    client.logout()
    assert client.tokens.load() is None
    assert api.calls_to("POST", "/v1/auth/logout")[0].headers["Authorization"] == f"Bearer {tokens.access_token}"
    with Client(URL, MemoryTokens(tokens), transport=api.transport) as stale, pytest.raises(ApiError) as ended:
        stale.queue()  # 401, and the refresh is refused too: the session is over
    assert ended.value.status == 401
    client.logout()  # no login: nothing to send
    assert len(api.calls_to("POST", "/v1/auth/logout")) == 1


def test_logout_of_a_session_ended_elsewhere_forgets_it_quietly(api: FakeApi, client: Client) -> None:
    tokens = client.tokens.load()
    assert tokens is not None
    with Client(URL, MemoryTokens(tokens), transport=api.transport) as other:
        other.logout()
    client.logout()
    assert client.tokens.load() is None


def test_no_answer_is_a_transport_failure(api: FakeApi, client: Client) -> None:
    api.script("GET", "/v1/queue", httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransportFailed, match=r"cannot reach http://userq\.test: \[Errno 111\]") as failed:
        client.queue()
    assert isinstance(failed.value.__cause__, httpx.ConnectError)


def test_an_answer_that_is_not_the_apis_is_unexpected(api: FakeApi, client: Client) -> None:
    api.script("GET", "/v1/queue", httpx.Response(200, text="<html>a login page</html>"))
    with pytest.raises(UnexpectedResponse, match="GET /v1/queue: HTTP 200, not JSON"):
        client.queue()
    api.script("POST", "/v1/auth/token", httpx.Response(200, json={"token": "x"}))
    with pytest.raises(UnexpectedResponse, match="access_token"):
        client.login("alice", PASSWORD)


def test_the_client_takes_a_token_store_of_its_own(api: FakeApi) -> None:
    class Recording(MemoryTokens):
        def __init__(self) -> None:
            super().__init__()
            self.saved: list[Tokens] = []

        def save(self, tokens: Tokens) -> None:
            self.saved.append(tokens)
            super().save(tokens)

    store = Recording()
    api.add_user("dave", PASSWORD)
    with Client(URL, store, transport=api.transport) as client:
        client.login("dave", PASSWORD)
        api.expire_access_tokens()
        client.queue()
    assert len(store.saved) == 2
