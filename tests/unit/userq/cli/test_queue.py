"""userq/cli/queue.py: `userq queue` (show), `pause`, `resume`, `purge`."""

from __future__ import annotations

from tests.unit.userq.cli.conftest import Userq
from tests.unit.userq.fake_api import FakeApi


def test_show_pause_resume_and_purge(api: FakeApi, userq: Userq) -> None:
    userq.login()
    assert userq.json("queue")["state"] == "drained"
    assert userq.json("queue", "pause")["paused"] is True
    held = userq("submit", "demo.echo").stdout.strip()
    assert userq.json("queue", "show")["depth"] == 1
    purged = userq.json("queue", "purge", "--yes")
    assert purged["cancelled"] == [held]
    assert userq.json("queue", "resume")["paused"] is False
    assert [c.url.path for c in api.calls if c.url.path.startswith("/v1/queue")] == [
        "/v1/queue",
        "/v1/queue/pause",
        "/v1/queue",
        "/v1/queue/purge",
        "/v1/queue/resume",
    ]


def test_purge_asks_first(api: FakeApi, userq: Userq) -> None:
    userq.login()
    userq("submit", "demo.echo")
    declined = userq("queue", "purge", input="n\n", code=1)
    assert "cancel every request of yours still waiting to start?" in declined.stderr
    assert api.calls_to("POST", "/v1/queue/purge") == []
    assert [v["status"] for v in api.accounts["alice"].requests] == ["queued"]
    userq("queue", "purge", input="y\n")
    assert [v["status"] for v in api.accounts["alice"].requests] == ["cancelled"]
