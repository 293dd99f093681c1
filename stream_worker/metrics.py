"""Prometheus metrics of a worker, served on 127.0.0.1:METRICS_PORT (0: not served).

No label names a user or a request: request types (only registered ones), outcomes, topics and
partitions are all bounded. Buckets are for what a worker sees: batches of one to a few hundred records,
transactions and commits of milliseconds, end-to-end times from tens of milliseconds to a retry's backoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from stream_worker.processor import Processed

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
END_TO_END = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

OUTCOMES = Counter(
    "userq_worker_requests_total", "Requests handled, by type and what became of them", ["type", "outcome"]
)
UNREADABLE = Counter("userq_worker_unreadable_records_total", "Records dead-lettered because they did not parse")
BATCH_RECORDS = Histogram(
    "userq_worker_batch_records", "Records per processed batch", buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
)
BATCH_SECONDS = Histogram(
    "userq_worker_batch_transaction_seconds", "PostgreSQL transaction time per batch", buckets=SECONDS
)
COMMIT_SECONDS = Histogram("userq_worker_offset_commit_seconds", "Offset commit time", buckets=SECONDS)
HANDLER_SECONDS = Histogram("userq_worker_handler_seconds", "Handler run time per attempt", ["type"], buckets=SECONDS)
END_TO_END_SECONDS = Histogram(
    "userq_worker_end_to_end_seconds", "From acceptance to the terminal state", ["type"], buckets=END_TO_END
)
BATCH_FAILURES = Counter("userq_worker_batch_failures_total", "Batches rolled back and run again", ["reason"])
REBALANCES = Counter("userq_worker_rebalances_total", "Partitions assigned, revoked or lost", ["event"])
SCHEDULED = Gauge("userq_worker_scheduled_wakeups", "Wake-ups waiting in memory for their due time")
LAG = Gauge("userq_worker_consumer_lag", "High watermark minus the committed offset", ["topic", "partition"])


def serve(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")


def record(processed: Processed) -> None:
    """Count a batch's outcomes once its transaction committed (a rolled-back batch counts nothing)."""
    for type_, outcome in processed.outcomes:
        OUTCOMES.labels(type_, outcome).inc()
    for type_, seconds in processed.end_to_end:
        END_TO_END_SECONDS.labels(type_).observe(seconds)
    UNREADABLE.inc(processed.unreadable)
