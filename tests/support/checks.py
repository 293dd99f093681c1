"""The one checker of the guarantees, run after every end-to-end and fault scenario.

It reads PostgreSQL and the results topic and verifies: every accepted request terminal exactly once;
per user, `processed_seq` is 1..n in acceptance (`sequence`) order and no request started before the
one ahead of it finished; ledger balances and every ledger result equal a serial replay; one ledger
entry per applied operation; one result event per terminal request, in per-user order.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from tests.support.stack import Stack


@dataclass
class Report:
    accepted: int = 0
    terminal: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(message)


def replay_ledger(requests: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any] | None]]:
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


def check(stack: Stack, accepted: dict[str, list[str]], *, results_topic: bool = True) -> Report:
    """`accepted`: per user_id, the request_ids the API answered 202 for, in the order it answered."""
    report = Report(accepted=sum(len(ids) for ids in accepted.values()))
    with stack.db() as conn:
        rows = conn.execute(
            """select request_id::text, user_id::text, type, payload, status, result, sequence, processed_seq,
                      started_at, completed_at from requests order by user_id, sequence"""
        ).fetchall()
        balances = dict(conn.execute("select user_id::text, balance from ledger_accounts").fetchall())
        entries = dict(conn.execute("select request_id::text, count(*) from ledger_entries group by 1").fetchall())
    columns = [
        "request_id",
        "user_id",
        "type",
        "payload",
        "status",
        "result",
        "sequence",
        "processed_seq",
        "started_at",
        "completed_at",
    ]
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_user[row[1]].append(dict(zip(columns, row, strict=True)))
    for user_id, ids in accepted.items():
        requests = by_user.get(user_id, [])
        known = {r["request_id"] for r in requests}
        for request_id in ids:
            if request_id not in known:
                report.fail(f"accepted request {request_id} of {user_id} is lost")
        if [r["request_id"] for r in requests if r["request_id"] in set(ids)] != ids:
            report.fail(f"{user_id}: sequence order differs from acceptance order")
        _check_user(report, user_id, requests, balances.get(user_id, 0), entries)
    return _check_results(stack, report, by_user) if results_topic else report


def _check_user(
    report: Report, user_id: str, requests: list[dict[str, Any]], balance: int, entries: dict[str, int]
) -> None:
    for request in requests:
        report.by_status[request["status"]] = report.by_status.get(request["status"], 0) + 1
        if request["processed_seq"] is not None:
            report.terminal += 1
    processed = [r["processed_seq"] for r in requests]
    if processed != list(range(1, len(requests) + 1)):
        report.fail(f"{user_id}: processed_seq in sequence order is {processed[:20]}…, not 1..{len(requests)}")
    for before, after in itertools.pairwise(requests):
        if after["started_at"] and before["completed_at"] and after["started_at"] < before["completed_at"]:
            report.fail(f"{user_id}: {after['request_id']} started before {before['request_id']} finished")
    model_balance, expected = replay_ledger(requests)
    if model_balance != balance:
        report.fail(f"{user_id}: balance {balance}, serial replay gives {model_balance}")
    for request, result in zip(requests, expected, strict=True):
        if result is not None and request["result"] != result:
            report.fail(f"{user_id}: {request['request_id']} result {request['result']}, model {result}")
        applied = result is not None and result["ok"]
        if entries.get(request["request_id"], 0) != (1 if applied else 0):
            report.fail(f"{user_id}: {request['request_id']} has {entries.get(request['request_id'], 0)} entries")


def _check_results(stack: Stack, report: Report, by_user: dict[str, list[dict[str, Any]]]) -> Report:
    events = read_topic(stack, stack.settings.results_topic)
    seen: dict[str, list[int]] = defaultdict(list)
    event_ids: set[str] = set()
    for event in events:
        if event["event_id"] in event_ids:
            continue  # at-least-once: a re-delivery carries the same event_id
        event_ids.add(event["event_id"])
        seen[event["user_id"]].append(event["processed_seq"])
    for user_id, requests in by_user.items():
        terminal = sorted(r["processed_seq"] for r in requests if r["processed_seq"] is not None)
        if seen.get(user_id, []) != terminal:
            report.fail(f"{user_id}: results topic has processed_seq {seen.get(user_id, [])[:20]}…")
    return report


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
