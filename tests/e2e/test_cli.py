"""The `userq` command against a real API and worker: a user's session, the operator's dead-letter commands,
and (as the installed console script) Ctrl-C on `watch`. Output details and exit codes for every case are
the unit tier's (tests/unit/userq/cli)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from harness.stack import PASSWORD, Stack, make_admin
from userq.cli import app


class Userq:
    """`userq …` in this process, with its own credentials file and API URL (the environment, as a user sets
    them)."""

    def __init__(self, url: str, credentials: Path) -> None:
        self.credentials = credentials
        self.env = {"USERQ_URL": url, "USERQ_CREDENTIALS": str(credentials), "USERQ_PASSWORD": None}
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env, input=input)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)

    def lines(self, *args: str) -> list[Any]:
        return [json.loads(line) for line in self(*args).stdout.splitlines()]


def _new_user(userq: Userq) -> str:
    username = f"u{uuid.uuid4().hex[:12]}"
    userq("register", username, "--password", PASSWORD)
    userq("login", username, input=f"{PASSWORD}\n")  # prompted for, as on a terminal
    return username


def test_a_users_session_from_register_to_logout(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api(STREAM_HEARTBEAT_S="1")
    stack.start_worker()
    userq = Userq(api, tmp_path / "credentials.json")
    _new_user(userq)

    first = userq("submit", "ledger.deposit", "--payload", '{"amount": 100}').stdout.strip()
    lines = ['{"type": "ledger.withdraw", "payload": {"amount": 300}}', '{"type": "demo.echo"}']
    from_file = userq("submit", "--file", "-", "--batch-size", "1", input="\n".join(lines)).stdout.split()
    assert len(from_file) == 2
    stack.wait_terminal(3, timeout=60)

    assert userq.json("status", first)["result"] == {"ok": True, "balance": 100}
    assert userq.json("status", from_file[0])["result"] == {"ok": False, "reason": "insufficient_funds", "balance": 100}
    listed = userq.lines("list", "--json")
    assert [v["request_id"] for v in listed] == [first, *from_file]
    assert {v["status"] for v in listed} == {"succeeded"}

    assert userq.json("queue", "pause")["paused"] is True
    held = userq("submit", "demo.echo").stdout.strip()
    assert userq.json("queue", "purge", "--yes")["cancelled"] == [held]
    assert userq.json("queue")["paused"] is True
    assert userq.json("queue", "resume")["paused"] is False

    # the history from the start: 3 requests x (queued, processing, succeeded), then the held one's 2
    events = userq.lines("watch", "--json", "--count", "11")
    assert [e["id"] for e in events] == list(range(1, 12))
    assert [e["status"] for e in events[-2:]] == ["queued", "cancelled"]
    assert [e["request_id"] for e in events if e["status"] == "succeeded"] == [first, *from_file]

    assert userq("logout").stderr.strip() == "logged out"
    refused = userq("status", first, code=1)
    assert "missing, invalid or expired credentials" in refused.stderr
    assert "userq login" in refused.stderr


def test_an_admin_lists_redrives_and_discards_dead_letters(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api()
    stack.start_worker(MAX_ATTEMPTS="1")
    user = Userq(api, tmp_path / "user.json")
    _new_user(user)
    flaky = user("submit", "demo.flaky", "--payload", '{"fail_times": 1}').stdout.strip()
    poison = user("submit", "demo.poison").stdout.strip()
    stack.wait_terminal(2, timeout=60)
    assert "HTTP 403" in user("admin", "dead-letters", "list", code=1).stderr

    admin_account = make_admin(stack, api)  # an admin, made the documented way
    admin = Userq(api, tmp_path / "admin.json")
    admin("login", admin_account.username, "--password", admin_account.password)
    letters = admin.lines("admin", "dead-letters", "list", "--json")
    assert [d["request_id"] for d in letters] == [flaky, poison]
    assert {d["status"] for d in letters} == {"dead_lettered"}

    assert admin("admin", "dead-letters", "redrive", flaky).stdout.split() == [flaky]
    stack.wait_terminal(2, timeout=60)
    assert user.json("status", flaky)["status"] == "succeeded"  # its second attempt: no failure left
    assert admin.json("admin", "dead-letters", "discard", poison)["request_id"] == poison
    assert admin.lines("admin", "dead-letters", "list", "--json") == []

    user("submit", "demo.poison")
    stack.wait_terminal(3, timeout=60)
    assert len(admin("admin", "dead-letters", "redrive", "--user", letters[0]["user_id"]).stdout.split()) == 1


def test_watch_in_the_console_script_stops_cleanly_on_ctrl_c(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api(STREAM_HEARTBEAT_S="1")
    stack.start_worker()
    userq = Userq(api, tmp_path / "credentials.json")
    _new_user(userq)
    request_id = userq("submit", "demo.echo", "--payload", '{"hello": "world"}').stdout.strip()

    script = Path(sys.executable).with_name("userq")
    env = {
        **os.environ,
        "USERQ_URL": api,
        "USERQ_CREDENTIALS": str(userq.credentials),
        "PYTHONFAULTHANDLER": "1",  # a watch that does not stop dumps its threads' stacks on SIGABRT
    }
    with subprocess.Popen(
        [script, "watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a test run started in the background (`make test &`) passes SIGINT on ignored,
        # and Python then leaves it ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as watch:  # closes the pipes
        try:
            assert watch.stdout is not None
            lines = [watch.stdout.readline() for _ in range(3)]
            time.sleep(0.5)  # watch is back to waiting for the next event
            watch.send_signal(signal.SIGINT)
            code = watch.wait(10)
        except subprocess.TimeoutExpired:
            watch.send_signal(signal.SIGABRT)
            watch.wait(10)
            stacks = watch.stderr.read() if watch.stderr else ""
            pytest.fail(f"watch did not stop within 10 s of Ctrl-C; its stacks:\n{stacks}")
        finally:
            if watch.poll() is None:
                watch.kill()
        stderr = watch.stderr.read() if watch.stderr else ""
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    assert all(request_id in line for line in lines)
    assert [line.split()[3] for line in lines] == ["queued", "processing", "succeeded"]
    assert '{"hello":"world"}' in lines[2]
