from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.userq.fake_api import URL, FakeApi
from userq.client import Client

PASSWORD = "correct horse battery"


@pytest.fixture
def api() -> FakeApi:
    """The API these tests talk to: in memory (it replaces the suite's `api`, a real API process)."""
    return FakeApi()


@pytest.fixture
def slept() -> list[float]:
    """The waits of the `client` fixture's client, in seconds (it waits for nothing)."""
    return []


@pytest.fixture
def client(api: FakeApi, slept: list[float]) -> Iterator[Client]:
    """alice, logged in (tokens in memory)."""
    api.add_user("alice", PASSWORD)
    with Client(URL, transport=api.transport, sleep=slept.append) as client:
        client.login("alice", PASSWORD)
        yield client
