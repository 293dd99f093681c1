from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.unit.userq.conftest import PASSWORD
from tests.unit.userq.fake_api import URL, FakeApi
from userq.cli import app, options
from userq.client import Client
from userq.tokens import TokenStore


class Userq:
    """`userq …` in this process, with its own credentials file and the API URL in the environment, as a user
    sets them."""

    def __init__(self, credentials: Path) -> None:
        self.credentials = credentials
        self.env = {"USERQ_URL": URL, "USERQ_CREDENTIALS": str(credentials), "USERQ_PASSWORD": None}
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env, input=input)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        if code == 1:
            assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)

    def lines(self, *args: str) -> list[Any]:
        return [json.loads(line) for line in self(*args).stdout.splitlines()]

    def login(self, username: str = "alice") -> None:
        self("login", username, "--password", PASSWORD)


@pytest.fixture
def userq(api: FakeApi, slept: list[float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Userq:
    """The command, talking to `api`; alice has an account."""

    def client(url: str, tokens: TokenStore) -> Client:
        return Client(url, tokens, transport=api.transport, sleep=slept.append)

    monkeypatch.setattr(options, "Client", client)
    api.add_user("alice", PASSWORD)
    return Userq(tmp_path / "home" / "userq" / "credentials.json")
