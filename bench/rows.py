"""Figures read from the requests' rows: the worker's throughput and the end-to-end latency.

End to end is acceptance to terminal state: `accepted_at` (set by the API before it writes anything)
to `completed_at` (PostgreSQL's clock in the transaction that made the request terminal), both on this
machine. Throughput is terminal requests over the time from the first start to the last completion, so a
worker's start-up (joining the group, the first fetch) is not in it.
"""

from __future__ import annotations

from typing import Any

from harness.stack import Stack


def throughput(stack: Stack, request_ids: list[str] | None = None) -> dict[str, Any]:
    """Terminal requests per second (all of the stack's, or these)."""
    with stack.db() as conn:
        row = conn.execute(
            """select count(*), extract(epoch from max(completed_at) - min(started_at))
                 from requests
                where processed_seq is not null and (%(ids)s::uuid[] is null or request_id = any(%(ids)s))""",
            {"ids": request_ids},
        ).fetchone()
    assert row is not None
    count, seconds = int(row[0]), float(row[1] or 0.0)
    return {
        "records": count,
        "seconds": round(seconds, 3),
        "per_s": round(count / seconds, 1) if seconds > 0 else None,
    }


def end_to_end(stack: Stack, request_ids: list[str]) -> dict[str, Any]:
    """Acceptance to terminal state of these requests: p50, p99 and max in milliseconds."""
    with stack.db() as conn:
        row = conn.execute(
            """select count(*),
                      percentile_cont(0.5) within group (order by ms),
                      percentile_cont(0.99) within group (order by ms),
                      max(ms)
                 from (select extract(epoch from completed_at - accepted_at) * 1000 as ms
                         from requests where request_id = any(%s) and completed_at is not null) x""",
            (request_ids,),
        ).fetchone()
    assert row is not None
    return {
        "records": int(row[0]),
        "p50_ms": _ms(row[1]),
        "p99_ms": _ms(row[2]),
        "max_ms": _ms(row[3]),
    }


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
