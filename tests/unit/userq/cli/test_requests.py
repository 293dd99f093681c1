"""userq/cli/requests.py: `userq submit` (one, or a file in batches), `status`, `list`; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.unit.userq.cli.conftest import Userq
from tests.unit.userq.fake_api import FakeApi, refusal


def test_submit_prints_the_request_id(api: FakeApi, userq: Userq) -> None:
    userq.login()
    first = userq("submit", "ledger.deposit", "--payload", '{"amount": 100}', "--idempotency-key", "d-1")
    [view] = api.accounts["alice"].requests
    assert first.stdout == f"{view['request_id']}\n"
    assert view["payload"] == {"amount": 100}
    assert api.calls_to("POST", "/v1/requests")[0].headers["Idempotency-Key"] == "d-1"
    assert userq("submit", "demo.echo").stdout.strip() != view["request_id"]
    assert api.accounts["alice"].requests[1]["payload"] == {}


def test_submit_file_sends_every_line_in_order_in_batches(api: FakeApi, userq: Userq, tmp_path: Path) -> None:
    userq.login()
    jsonl = tmp_path / "requests.jsonl"
    jsonl.write_text(
        "\n".join(
            [
                '{"type": "ledger.deposit", "payload": {"amount": 30}}',
                "",
                *(json.dumps({"type": "demo.echo", "payload": {"n": n}}) for n in range(4)),
                '{"type": "demo.echo"}',
            ]
        )
    )
    batch = userq("submit", "--file", str(jsonl), "--batch-size", "2")
    requests = api.accounts["alice"].requests
    assert batch.stdout.split() == [v["request_id"] for v in requests]
    assert [v["payload"] for v in requests] == [{"amount": 30}, *({"n": n} for n in range(4)), {}]
    assert [len(json.loads(c.content)["requests"]) for c in api.calls_to("POST", "/v1/requests/batch")] == [2, 2, 2]
    assert "accepted 6 requests" in batch.stderr
    assert "6/6" in batch.stderr  # the progress bar's last frame

    from_stdin = userq("submit", "-f", "-", input='{"type": "demo.echo"}\n')
    assert from_stdin.stdout.strip() == api.accounts["alice"].requests[-1]["request_id"]


def test_a_refused_batch_says_how_many_were_accepted(api: FakeApi, userq: Userq) -> None:
    userq.login()
    lines = '{"type": "demo.echo"}\n{"type": "demo.echo"}\n{"type": "no.such.type"}\n{"type": "demo.echo"}\n'
    refused = userq("submit", "--file", "-", "--batch-size", "2", input=lines, code=1)
    assert refused.stdout.split() == [v["request_id"] for v in api.accounts["alice"].requests]
    assert len(refused.stdout.split()) == 2
    assert "accepted 2 of 4; the rest were not submitted" in refused.stderr
    assert "unknown_type" in refused.stderr


def test_usage_errors_exit_2_and_submit_nothing(api: FakeApi, userq: Userq, tmp_path: Path) -> None:
    userq.login()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "demo.echo"}\n{"type": "demo.echo", "payload": [1]}\n')
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"type": "demo.echo", "priority": 1}\n')
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")

    assert "line 2" in userq("submit", "--file", str(bad), code=2).stderr
    assert "line 1" in userq("submit", "--file", str(extra), code=2).stderr
    assert "no requests in the file" in userq("submit", "--file", str(blank), code=2).stderr
    assert "No such file" in userq("submit", "--file", str(tmp_path / "missing.jsonl"), code=2).stderr
    assert "not JSON" in userq("submit", "demo.echo", "--payload", "{nope", code=2).stderr
    assert "must be a JSON object" in userq("submit", "demo.echo", "--payload", "[]", code=2).stderr
    assert "not both" in userq("submit", "demo.echo", "--file", str(bad), code=2).stderr
    assert "not both" in userq("submit", code=2).stderr
    assert "not with --file" in userq("submit", "--file", str(bad), "--idempotency-key", "k", code=2).stderr
    userq("no-such-command", code=2)
    userq("status", code=2)
    userq("list", "--limit", "0", code=2)
    assert api.calls_to("POST", "/v1/requests") == api.calls_to("POST", "/v1/requests/batch") == []


def test_status_and_list(api: FakeApi, userq: Userq) -> None:
    userq.login()
    ids = userq("submit", "-f", "-", input='{"type": "demo.echo", "payload": {"n": 1}}\n' * 3).stdout.split()
    api.finish(ids[0], result={"n": 1})
    api.finish(ids[1], "dead_lettered", error={"type": "PermanentError"})

    assert userq.json("status", ids[0])["result"] == {"n": 1}
    listed = userq.lines("list", "--json")
    assert [v["request_id"] for v in listed] == ids
    assert [v["request_id"] for v in userq.lines("list", "--json", "--limit", "2")] == ids[:2]
    assert [v["request_id"] for v in userq.lines("list", "--json", "--status", "queued")] == ids[2:]
    table = userq("list").stdout.splitlines()
    assert table == [
        f'       1  {ids[0]}  succeeded     demo.echo  {{"n":1}}',
        f'       2  {ids[1]}  dead_lettered demo.echo  {{"type":"PermanentError"}}',
        f"       3  {ids[2]}  queued        demo.echo",
    ]
    gone = userq("status", "00000000-0000-0000-0000-000000000000", code=1)
    assert gone.stderr.strip() == "error: request not found [not_found, HTTP 404]"


def test_a_refusal_with_retry_after_says_when_to_try_again(api: FakeApi, userq: Userq) -> None:
    userq.login()
    api.script("POST", "/v1/requests", refusal(429, "rate_limited", "too many requests", {"Retry-After": "60"}))
    refused = userq("submit", "demo.echo", code=1)
    assert refused.stderr.strip() == "error: too many requests [rate_limited, HTTP 429] (try again in 60 s)"


def test_an_api_that_does_not_answer_exits_1(api: FakeApi, userq: Userq) -> None:
    api.script("GET", "/v1/queue", httpx.ConnectError("[Errno 111] Connection refused"))
    gone = userq("queue", code=1)
    assert gone.stderr.strip() == "error: cannot reach http://userq.test: [Errno 111] Connection refused"
