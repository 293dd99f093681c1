"""userq/cli/admin.py: `userq admin dead-letters list`, `redrive`, `discard`."""

from __future__ import annotations

import uuid

from tests.unit.userq.cli.conftest import Userq
from tests.unit.userq.fake_api import FakeApi


def test_an_admin_lists_redrives_and_discards_dead_letters(api: FakeApi, userq: Userq) -> None:
    userq.login()
    flaky = userq("submit", "demo.echo").stdout.strip()
    poison = userq("submit", "demo.poison").stdout.strip()
    for request_id in (flaky, poison):
        api.finish(request_id, "dead_lettered", error={"type": "PermanentError"})
    refused = userq("admin", "dead-letters", "list", code=1)
    assert refused.stderr.strip() == "error: this needs the role admin [forbidden, HTTP 403]"

    api.add_user("root", admin=True)
    userq("logout")
    userq("login", "root", "--password", "a long enough password")
    letters = userq.lines("admin", "dead-letters", "list", "--json")
    assert [d["request_id"] for d in letters] == [flaky, poison]
    user_id = letters[0]["user_id"]
    table = userq("admin", "dead-letters", "list", "--type", "demo.poison").stdout.splitlines()
    assert table == [f'{poison}  user {user_id}  demo.poison  attempts 1  {{"type":"PermanentError"}}']
    assert userq.lines("admin", "dead-letters", "list", "--json", "--user-id", str(uuid.uuid4())) == []
    assert len(userq.lines("admin", "dead-letters", "list", "--json", "--limit", "1")) == 1

    assert userq("admin", "dead-letters", "redrive", flaky).stdout.split() == [flaky]
    assert api.accounts["alice"].requests[0]["status"] == "queued"
    assert userq.json("admin", "dead-letters", "discard", poison)["request_id"] == poison
    assert userq.lines("admin", "dead-letters", "list", "--json") == []
    again = userq("admin", "dead-letters", "discard", poison, code=1)
    assert "dead letter not found" in again.stderr

    api.finish(flaky, "dead_lettered")
    assert userq("admin", "dead-letters", "redrive", "--user", user_id).stdout.split() == [flaky]


def test_redrive_takes_a_request_id_or_a_user(api: FakeApi, userq: Userq) -> None:
    assert "not both" in userq("admin", "dead-letters", "redrive", code=2).stderr
    assert "not both" in userq("admin", "dead-letters", "redrive", "r", "--user", "u", code=2).stderr
    assert api.calls == []
