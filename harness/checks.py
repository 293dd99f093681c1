"""The one checker of the guarantees, run after every end-to-end and fault scenario and the soak.

From PostgreSQL and the topics it verifies: every accepted request terminal exactly once; per user,
`processed_seq` is 1..n in acceptance (`sequence`) order (cancellations by a purge come before a request
that was already running or retrying then: `order_problems`) and no request started before those ahead
of it finished; ledger balances and every ledger result equal a serial replay; one ledger entry per applied
operation; dead letters exactly where expected (in PostgreSQL and on the dead-letter topic); one result
event per terminal request, in per-user order; and the group's consumer lag back to 0.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from harness.stack import Stack, consumer_lag

Row = dict[str, Any]


def poison_only(request: Row) -> bool:
    """The default expectation: only `demo.poison` is dead-lettered (flaky ones succeed on a retry)."""
    return bool(request["type"] == "demo.poison")


@dataclass
class Report:
    accepted: int = 0
    terminal: int = 0
    lost: int = 0
    duplicated: int = 0
    order_violations: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(message)

    def summary(self) -> str:
        return (
            f"accepted={self.accepted} terminal={self.terminal} lost={self.lost} duplicated={self.duplicated}"
            f" order_violations={self.order_violations} by_status={self.by_status}"
        )


def replay_ledger(requests: list[Row]) -> tuple[int, list[dict[str, Any] | None]]:
    """The serial model: the balance after these requests, and the result each ledger request must have."""
    balance = 0
    expected: list[dict[str, Any] | None] = []
    for request in requests:
        amount = request["payload"].get("amount")
        if request["status"] != "succeeded" or request["type"] not in ("ledger.deposit", "ledger.withdraw"):
            expected.append(None)
        elif request["type"] == "ledger.deposit":
            balance += amount
            expected.append({"ok": True, "balance": balance})
        elif balance < amount:
            expected.append({"ok": False, "reason": "insufficient_funds", "balance": balance})
        else:
            balance -= amount
            expected.append({"ok": True, "balance": balance})
    return balance, expected


def check(
    stack: Stack,
    accepted: dict[str, list[str]],
    *,
    expect_dead: Callable[[Row], bool] = poison_only,
) -> Report:
    """`accepted`: per user_id, the request_ids the API answered 202 for, in the order it answered.

    Requests the database holds beyond those (a client cut off after the commit) must obey the same rules.
    """
    report = Report(accepted=sum(len(ids) for ids in accepted.values()))
    with stack.db() as conn:
        cursor = conn.execute(
            """select request_id::text, user_id::text, type, payload, status, result, sequence, processed_seq,
                      started_at, completed_at from requests order by user_id, sequence"""
        )
        names = [c.name for c in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        balances = dict(conn.execute("select user_id::text, balance from ledger_accounts").fetchall())
        entries = dict(conn.execute("select request_id::text, count(*) from ledger_entries group by 1").fetchall())
    by_user: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_user[row["user_id"]].append(row)
    for user_id, ids in accepted.items():
        known = {r["request_id"] for r in by_user.get(user_id, [])}
        for request_id in ids:
            if request_id not in known:
                report.lost += 1
                report.fail(f"accepted request {request_id} of {user_id} is lost")
        wanted = set(ids)
        if [r["request_id"] for r in by_user.get(user_id, []) if r["request_id"] in wanted] != ids:
            report.order_violations += 1
            report.fail(f"{user_id}: sequence order differs from acceptance order")
    for user_id, requests in by_user.items():
        _check_user(report, user_id, requests, balances.get(user_id, 0), entries, expect_dead)
    _check_results(stack, report, by_user)
    _check_dead_letter_topic(stack, report, rows)
    lag = wait_for_no_lag(stack, 60)
    if lag:
        report.fail(f"consumer lag did not return to 0: {lag}")
    return report


def _check_user(
    report: Report,
    user_id: str,
    requests: list[Row],
    balance: int,
    entries: dict[str, int],
    expect_dead: Callable[[Row], bool],
) -> None:
    for request in requests:
        report.by_status[request["status"]] = report.by_status.get(request["status"], 0) + 1
        if request["processed_seq"] is None:
            report.fail(f"{request['request_id']} is not terminal: {request['status']}")
        else:
            report.terminal += 1
        if (request["status"] == "dead_lettered") != expect_dead(request):
            report.fail(f"{request['request_id']} ({request['type']}) is {request['status']}")
    for problem in order_problems(requests):
        report.order_violations += 1
        report.fail(f"{user_id}: {problem}")
    model_balance, expected = replay_ledger(requests)
    if model_balance != balance:
        report.fail(f"{user_id}: balance {balance}, serial replay gives {model_balance}")
    for request, result in zip(requests, expected, strict=True):
        if result is not None and request["result"] != result:
            report.fail(f"{user_id}: {request['request_id']} result {request['result']}, model {result}")
        applied = 1 if result is not None and result["ok"] else 0
        found = entries.get(request["request_id"], 0)
        if found != applied:
            report.duplicated += max(0, found - applied)
            report.fail(f"{user_id}: {request['request_id']} has {found} ledger entries, not {applied}")


def order_problems(requests: list[Row]) -> list[str]:
    """How one user's requests (in `sequence` order, all terminal) break the order rules (docs/queues.md):

    - `processed_seq` numbers the user's terminal states 1..n, in the order they were committed;
    - requests that ran (not cancelled) got them in sequence order, and so did the cancelled ones;
    - a cancelled request's number is below an earlier request's only when that one had started before
      the purge (it was running, or waiting for its retry) and so became terminal after it; no request
      is numbered below an earlier cancelled one;
    - no request started before every request ahead of it had finished."""
    problems: list[str] = []
    processed = [r["processed_seq"] for r in requests]
    if sorted(processed, key=lambda n: -1 if n is None else n) != list(range(1, len(requests) + 1)):
        problems.append(f"processed_seq in sequence order is {processed[:20]}…, not a permutation of 1..n")
        return problems
    ran = [r for r in requests if r["status"] != "cancelled"]
    cancelled = [r for r in requests if r["status"] == "cancelled"]
    for kind, rows in (("that ran", ran), ("cancelled", cancelled)):
        if any(a["processed_seq"] > b["processed_seq"] for a, b in itertools.pairwise(rows)):
            problems.append(f"the requests {kind} are numbered out of sequence order")
    position = {r["request_id"]: n for n, r in enumerate(requests)}
    for c in cancelled:
        for r in ran:
            if position[r["request_id"]] < position[c["request_id"]] and r["processed_seq"] > c["processed_seq"]:
                if not (r["started_at"] and r["started_at"] <= c["completed_at"]):
                    problems.append(f"{c['request_id']} cancelled before {r['request_id']}, which had not started")
            elif position[r["request_id"]] > position[c["request_id"]] and r["processed_seq"] < c["processed_seq"]:
                problems.append(f"{r['request_id']} finished before {c['request_id']} ahead of it was cancelled")
    finished_ahead = None
    for before, after in itertools.pairwise(requests):
        if before["completed_at"] and (finished_ahead is None or before["completed_at"] > finished_ahead):
            finished_ahead = before["completed_at"]
        if after["started_at"] and finished_ahead and after["started_at"] < finished_ahead:
            problems.append(f"{after['request_id']} started before a request ahead of it finished")
    return problems


def _check_results(stack: Stack, report: Report, by_user: dict[str, list[Row]]) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    event_ids: set[str] = set()
    for event in read_topic(stack, stack.settings.results_topic):
        if event["event_id"] in event_ids:
            continue  # at-least-once: a re-delivery carries the same event_id
        event_ids.add(event["event_id"])
        seen[event["user_id"]].append(event["processed_seq"])
    for user_id, requests in by_user.items():
        terminal = sorted(r["processed_seq"] for r in requests if r["processed_seq"] is not None)
        if seen.get(user_id, []) != terminal:
            report.fail(f"{user_id}: results topic has processed_seq {seen.get(user_id, [])[:20]}…")


def _check_dead_letter_topic(stack: Stack, report: Report, rows: list[Row]) -> None:
    dead = {r["request_id"] for r in rows if r["status"] == "dead_lettered"}
    on_topic = set()
    for stored in read_messages(stack, stack.settings.dlq_topic):
        if stored.headers.get("userq.dlq.cause") != "unprocessable":
            on_topic.add(orjson.loads(stored.value or b"{}").get("request_id"))
    if on_topic != dead:
        report.fail(
            f"dead-letter topic holds {len(on_topic)} requests, PostgreSQL {len(dead)}: "
            f"{sorted(on_topic ^ dead)[:5]} differ"
        )


def wait_for_no_lag(stack: Stack, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    lag = consumer_lag(stack)
    while lag and time.monotonic() < deadline:
        time.sleep(0.5)
        lag = consumer_lag(stack)
    return lag


@dataclass(frozen=True)
class Stored:
    headers: dict[str, str]
    value: bytes | None


def read_messages(stack: Stack, topic: str) -> list[Stored]:
    """Every record of `topic`, in partition order."""
    consumer = Consumer(
        {"bootstrap.servers": stack.services.kafka, "group.id": f"check-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        out: list[Stored] = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            position = low
            while position < high:
                message = consumer.poll(10)
                assert message is not None, f"{topic}[{partition}] stopped at {position} of {high}"
                assert message.error() is None, message.error()
                raw = message.headers() or []
                items = raw.items() if isinstance(raw, dict) else raw
                headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in items}
                out.append(Stored(headers, message.value()))
                position = (message.offset() or 0) + 1
        return out
    finally:
        consumer.close()


def read_topic(stack: Stack, topic: str) -> list[dict[str, Any]]:
    """Every record of `topic`, decoded as JSON, in partition order."""
    return [orjson.loads(stored.value or b"null") for stored in read_messages(stack, topic)]
