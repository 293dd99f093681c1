"""The `userq` command against a real API and worker: a user's whole session, the operator's dead-letter
commands, exit codes, and (once, as the installed console script) Ctrl-C on `watch`."""

from __future__ import annotations

import json
import os
import signal
import stat
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
    credentials = tmp_path / "home" / "userq" / "credentials.json"
    userq = Userq(api, credentials)

    username = _new_user(userq)
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    [login] = json.loads(credentials.read_text())["logins"].values()
    assert login["username"] == username

    first = userq("submit", "ledger.deposit", "--payload", '{"amount": 100}').stdout.strip()
    jsonl = tmp_path / "requests.jsonl"
    jsonl.write_text(
        "\n".join(
            [
                '{"type": "ledger.withdraw", "payload": {"amount": 30}}',
                "",
                '{"type": "ledger.withdraw", "payload": {"amount": 300}}',
                *(json.dumps({"type": "demo.echo", "payload": {"n": n}}) for n in range(3)),
                '{"type": "demo.echo"}',
            ]
        )
    )
    batch = userq("submit", "--file", str(jsonl), "--batch-size", "2")
    from_file = batch.stdout.split()
    assert len(from_file) == 6
    assert "accepted 6 requests" in batch.stderr
    assert "6/6" in batch.stderr  # the progress bar's last frame
    stack.wait_terminal(7, timeout=60)

    assert userq.json("status", first)["result"] == {"ok": True, "balance": 100}
    assert userq.json("status", from_file[1])["result"] == {"ok": False, "reason": "insufficient_funds", "balance": 70}
    listed = userq.lines("list", "--json")
    assert [v["request_id"] for v in listed] == [first, *from_file]
    assert {v["status"] for v in listed} == {"succeeded"}
    assert [v["request_id"] for v in userq.lines("list", "--json", "--limit", "2")] == [first, from_file[0]]
    table = userq("list").stdout.splitlines()
    assert len(table) == 7
    assert from_file[1] in table[2]
    assert "succeeded" in table[2]
    assert "insufficient_funds" in table[2]

    assert userq.json("queue")["state"] == "drained"
    assert userq.json("queue", "pause")["paused"] is True
    held = userq("submit", "demo.echo").stdout.strip()
    assert userq.json("queue", "show")["depth"] == 1
    purged = userq.json("queue", "purge", "--yes")
    assert purged["cancelled"] == [held]
    assert userq.json("queue", "resume")["paused"] is False

    # the history from the start: 7 requests x (queued, processing, succeeded), then the held one's 2
    events = userq.lines("watch", "--json", "--count", "23")
    assert [e["id"] for e in events] == list(range(1, 24))
    assert [e["status"] for e in events[-2:]] == ["queued", "cancelled"]
    assert [e["request_id"] for e in events if e["status"] == "succeeded"] == [first, *from_file]
    resumed = userq("watch", "--last-event-id", "21", "--count", "1").stdout.split()
    assert resumed[0] == "22"
    assert held in resumed

    assert userq("logout").stderr.strip() == "logged out"
    assert json.loads(credentials.read_text())["logins"] == {}
    refused = userq("status", first, code=1)
    assert "missing, invalid or expired credentials" in refused.stderr
    assert "userq login" in refused.stderr


def test_a_wrong_password_exits_1_with_the_apis_message(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api()
    userq = Userq(api, tmp_path / "credentials.json")
    username = f"u{uuid.uuid4().hex[:12]}"
    userq("register", username, input=f"{PASSWORD}\n{PASSWORD}\n")
    refused = userq("login", username, "--password", "not the password", code=1)
    assert refused.stderr.strip() == "error: wrong username or password [invalid_credentials, HTTP 401]"
    assert refused.stdout == ""
    assert not (tmp_path / "credentials.json").exists()
    taken = userq("register", username, "--password", PASSWORD, code=1)
    assert "this username is taken" in taken.stderr
    weak = userq("register", "someone-else", "--password", "password", code=1)
    assert "weak_password" in weak.stderr or "invalid_request" in weak.stderr


def test_usage_errors_exit_2_and_submit_nothing(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api()
    userq = Userq(api, tmp_path / "credentials.json")
    _new_user(userq)
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"type": "demo.echo"}\n{"type": "demo.echo", "payload": [1]}\n')

    assert "line 2" in userq("submit", "--file", str(jsonl), code=2).stderr
    assert "not JSON" in userq("submit", "demo.echo", "--payload", "{nope", code=2).stderr
    userq("submit", "demo.echo", "--file", str(jsonl), code=2)
    userq("submit", code=2)
    userq("no-such-command", code=2)
    userq("status", code=2)
    userq("admin", "dead-letters", "redrive", code=2)
    assert userq("list").stdout == ""  # nothing was submitted
    unknown = userq("submit", "no.such.type", code=1)
    assert "unknown_type" in unknown.stderr
    from_stdin = userq("submit", "--file", "-", input='{"type": "no.such.type"}\n', code=1)
    assert "unknown_type" in from_stdin.stderr
    assert "accepted 0 of 1" in from_stdin.stderr
    gone = userq("--url", "http://127.0.0.1:9", "queue", code=1)
    assert "cannot reach http://127.0.0.1:9" in gone.stderr


def test_an_admin_lists_redrives_and_discards_dead_letters(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api()
    stack.start_worker(MAX_ATTEMPTS="1")
    user = Userq(api, tmp_path / "user.json")
    _new_user(user)
    flaky = user("submit", "demo.flaky", "--payload", '{"fail_times": 1}').stdout.strip()
    poison = user("submit", "demo.poison").stdout.strip()
    stack.wait_terminal(2, timeout=60)
    refused = user("admin", "dead-letters", "list", code=1)
    assert "HTTP 403" in refused.stderr

    admin_account = make_admin(stack, api)  # an admin, made the documented way
    admin = Userq(api, tmp_path / "admin.json")
    admin("login", admin_account.username, "--password", admin_account.password)
    letters = admin.lines("admin", "dead-letters", "list", "--json")
    assert [d["request_id"] for d in letters] == [flaky, poison]
    assert {d["status"] for d in letters} == {"dead_lettered"}
    user_id = letters[0]["user_id"]
    assert len(admin("admin", "dead-letters", "list", "--type", "demo.poison").stdout.splitlines()) == 1
    assert admin.lines("admin", "dead-letters", "list", "--json", "--user-id", str(uuid.uuid4())) == []

    assert admin("admin", "dead-letters", "redrive", flaky).stdout.split() == [flaky]
    stack.wait_terminal(2, timeout=60)
    assert user.json("status", flaky)["status"] == "succeeded"  # its second attempt: no failure left
    discarded = admin.json("admin", "dead-letters", "discard", poison)
    assert discarded["request_id"] == poison
    assert admin.lines("admin", "dead-letters", "list", "--json") == []
    again = admin("admin", "dead-letters", "discard", poison, code=1)
    assert "dead letter not found" in again.stderr

    user("submit", "demo.poison")
    stack.wait_terminal(3, timeout=60)
    assert admin("admin", "dead-letters", "redrive", "--user", user_id).stdout.split() != []


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
            time.sleep(0.5)
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


@pytest.mark.parametrize("variable", ["USERQ_URL", "USERQ_CREDENTIALS"])
def test_the_help_names_the_environment(variable: str) -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert variable in result.stdout
