"""userq/cli/account.py: `userq register`, `login`, `logout`, and what a refusal looks like."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from tests.unit.userq.cli.conftest import Userq
from tests.unit.userq.conftest import PASSWORD
from tests.unit.userq.fake_api import URL, FakeApi
from userq.cli import app


def test_register_login_and_logout(api: FakeApi, userq: Userq) -> None:
    registered = userq("register", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")  # prompted twice, as on a terminal
    assert registered.stderr.strip().endswith(f"registered bob ({api.accounts['bob'].user_id})")
    assert "Repeat for confirmation" in registered.stdout  # the prompts
    logged_in = userq("login", "bob", input=f"{PASSWORD}\n")
    assert logged_in.stderr.strip().endswith(f"logged in as bob at {URL}")

    assert stat.S_IMODE(userq.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(userq.credentials.parent.stat().st_mode) == 0o700
    logins = json.loads(userq.credentials.read_text())["logins"]
    assert list(logins) == [URL]
    assert logins[URL]["username"] == "bob"
    assert userq.json("queue")["state"] == "drained"

    assert userq("logout").stderr.strip() == "logged out"
    assert json.loads(userq.credentials.read_text())["logins"] == {}
    assert len(api.calls_to("POST", "/v1/auth/logout")) == 1
    refused = userq("queue", code=1)
    assert refused.stderr.strip() == (
        "error: missing, invalid or expired credentials [unauthorized, HTTP 401] (log in with `userq login USERNAME`)"
    )


def test_the_password_may_come_from_the_environment(api: FakeApi, userq: Userq) -> None:
    userq.env["USERQ_PASSWORD"] = PASSWORD
    userq("register", "bob")
    userq("login", "bob")
    assert json.loads(api.calls_to("POST", "/v1/auth/token")[0].content) == {"username": "bob", "password": PASSWORD}


def test_a_wrong_password_exits_1_with_the_apis_message(userq: Userq) -> None:
    refused = userq("login", "alice", "--password", "not the password", code=1)
    assert refused.stderr.strip() == "error: wrong username or password [invalid_credentials, HTTP 401]"
    assert refused.stdout == ""
    assert not userq.credentials.exists()
    taken = userq("register", "alice", "--password", PASSWORD, code=1)
    assert taken.stderr.strip() == "error: this username is taken [username_taken, HTTP 409]"


def test_logins_are_kept_per_api_url(userq: Userq) -> None:
    userq.login()
    userq("--url", f"{URL}/", "queue")  # the same API
    elsewhere = userq("--url", "http://other.test", "queue", code=1)
    assert "userq login" in elsewhere.stderr


def test_an_unreadable_credentials_file_exits_1_and_is_left_alone(userq: Userq) -> None:
    userq.credentials.parent.mkdir(parents=True)
    userq.credentials.write_text("{not json")
    refused = userq("queue", code=1)
    assert refused.stderr.startswith(f"error: unreadable credentials file {userq.credentials}")
    assert userq.credentials.read_text() == "{not json"


@pytest.mark.parametrize("variable", ["USERQ_URL", "USERQ_CREDENTIALS"])
def test_the_help_names_the_environment(variable: str) -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert variable in result.stdout
