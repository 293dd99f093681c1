"""The correctness checks of a bench run, at bench sizes (SQL where the full checker would read rows).

`harness/checks.py` is the checker of the guarantee tests (and the soak); it replays ledgers and reads every
result event, and it compares each user's sequence order with the order the client saw answers, which
holds only when a user has one request in flight. The open-loop generator sends a user's requests
concurrently, so here the client-side rule is the one that still holds: a request sent after another
one's 202 came back must come after it in the user's queue. Beside it:

- no loss: every request answered 202 has a row and is terminal;
- exactly one terminal state: one terminal entry per request in the request log;
- per-user order: `processed_seq` is 1..n in `sequence` (acceptance) order, and no request started
  before the one ahead of it completed;
- downstream: the results topic holds at least one event per terminal request (at-least-once).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.load import Answer
from harness.stack import TERMINAL, Stack


def run(stack: Stack, answers: dict[str, list[Answer]] | None = None) -> dict[str, Any]:
    """The checks over every request of `stack`; `answers` adds the client-side ones."""
    with stack.db() as conn:
        rows = conn.execute("select request_id::text, user_id::text, sequence, status from requests").fetchall()
        order = conn.execute(
            """select count(*) filter (where processed_seq is distinct from n),
                      count(*) filter (where started_at < before)
                 from (select processed_seq, started_at,
                              row_number() over w as n, lag(completed_at) over w as before
                         from requests window w as (partition by user_id order by sequence)) x"""
        ).fetchone()
        duplicated = conn.execute(
            """select count(*) from (select request_id from request_events where status = any(%s)
                                      group by request_id having count(*) > 1) x""",
            (list(TERMINAL),),
        ).fetchone()
    assert order is not None and duplicated is not None
    terminal = sum(1 for row in rows if row[3] in TERMINAL)
    report: dict[str, Any] = {
        "requests": len(rows),
        "terminal": terminal,
        "not_terminal": len(rows) - terminal,
        "duplicated": int(duplicated[0]),
        "order_violations": int(order[0]) + int(order[1]),
        "result_events": _result_events(stack),
    }
    if answers is not None:
        found = {row[0]: (row[1], row[2], row[3]) for row in rows}
        accepted = [(user_id, a) for user_id, listed in answers.items() for a in listed]
        report["accepted"] = len(accepted)
        report["lost"] = sum(
            1 for user_id, a in accepted if a.request_id not in found or found[a.request_id][0] != user_id
        )
        report["client_order_violations"] = _client_order(answers, {k: v[1] for k, v in found.items()})
    report["passed"] = (
        report["not_terminal"] == 0
        and report["duplicated"] == 0
        and report["order_violations"] == 0
        and report["result_events"] >= terminal
        and report.get("lost", 0) == 0
        and report.get("client_order_violations", 0) == 0
    )
    return report


def _client_order(answers: dict[str, list[Answer]], sequence: dict[str, int | None]) -> int:
    """Requests that the user's queue puts before one whose 202 came back before they were sent."""
    violations = 0
    for listed in answers.values():
        by_answer = sorted(listed, key=lambda a: a.answered)
        by_send = sorted(listed, key=lambda a: a.sent)
        highest = -1  # the highest sequence among requests answered before the current send
        i = 0
        for current in by_send:
            while i < len(by_answer) and by_answer[i].answered < current.sent:
                highest = max(highest, sequence.get(by_answer[i].request_id) or -1)
                i += 1
            mine = sequence.get(current.request_id)
            if mine is None or mine <= highest:
                violations += 1
    return violations


def _result_events(stack: Stack) -> int:
    """Records on the results topic (high watermarks added up: nothing is ever deleted there in a run)."""
    consumer = Consumer({"bootstrap.servers": stack.services.kafka, "group.id": "bench-watermarks"})
    try:
        topic = stack.settings.results_topic
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def merge(*reports: dict[str, Any]) -> dict[str, Any]:
    """One summary of several stacks' checks: counts added up, passed when each passed."""
    total: dict[str, Any] = defaultdict(int)
    for report in reports:
        for key, value in report.items():
            if key != "passed":
                total[key] += value
    return {**total, "passed": all(r["passed"] for r in reports)}
