"""Prometheus metrics of a worker, served on METRICS_HOST:METRICS_PORT (port 0: not served).

No label names a user or a request: request types (only registered ones), outcomes, causes, topics and
partitions are all bounded. Buckets are for what a worker sees: batches of one to a few hundred records,
transactions and commits of milliseconds, end-to-end times from tens of milliseconds to a retry's backoff.

Counters move only once a batch's transaction committed: a batch rolled back and run again counts once.
The queue gauges (parked requests, held users, paused queues, open dead letters) describe the whole
system, not this worker: every worker reports the same numbers, so read them with `max()`.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from stream_worker.settings import WorkerSettings

if TYPE_CHECKING:
    from stream_worker.inbound import Inbound
    from stream_worker.processor import Processed

log = structlog.get_logger(__name__)

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
END_TO_END = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

OUTCOMES = Counter(
    "userq_worker_requests_total", "Requests handled, by type and what became of them", ["type", "outcome"]
)
RETRIES = Counter("userq_worker_retries_total", "Attempts that failed transiently and got a retry", ["type"])
DEAD_LETTERS = Counter(
    "userq_worker_dead_letters_total",
    "Requests dead-lettered, by type and cause (permanent, max_attempts, invalid; unprocessable records"
    " have type 'unreadable')",
    ["type", "cause"],
)
UNREADABLE = Counter("userq_worker_unreadable_records_total", "Records dead-lettered because they did not parse")
RECORDS = Counter(
    "userq_worker_records_total", "Records of committed batches (requests and wake-ups)", ["topic", "partition"]
)
BATCH_RECORDS = Histogram(
    "userq_worker_batch_records", "Records settled per tick", buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
)
BATCH_SECONDS = Histogram(
    "userq_worker_batch_transaction_seconds", "PostgreSQL transaction time per tick", buckets=SECONDS
)
COMMIT_SECONDS = Histogram("userq_worker_offset_commit_seconds", "Offset commit time", buckets=SECONDS)
HANDLER_SECONDS = Histogram("userq_worker_handler_seconds", "Handler run time per attempt", ["type"], buckets=SECONDS)
END_TO_END_SECONDS = Histogram(
    "userq_worker_end_to_end_seconds", "From acceptance to the terminal state", ["type"], buckets=END_TO_END
)
BATCH_FAILURES = Counter("userq_worker_batch_failures_total", "Ticks rolled back or not published", ["reason"])
REBALANCES = Counter("userq_worker_rebalances_total", "Partitions assigned, revoked or lost", ["event"])
IN_FLIGHT = Gauge("userq_worker_records_in_hand", "Records read and not settled yet, in the users' lanes")
SCHEDULED = Gauge("userq_worker_scheduled_wakeups", "Wake-ups waiting in memory for their due time")
LAG = Gauge("userq_worker_consumer_lag", "High watermark minus the committed offset", ["topic", "partition"])

PARKED = Gauge("userq_parked_requests", "Requests waiting in PostgreSQL behind their user's held or paused queue")
HELD = Gauge("userq_held_users", "Users whose later requests are held back, by reason (retrying, halted)", ["reason"])
PAUSED = Gauge("userq_paused_queues", "Queues paused by their user or an operator")
OPEN_DEAD_LETTERS = Gauge("userq_open_dead_letters", "Dead letters neither redriven nor discarded")

_OUTCOMES = ("succeeded", "retrying", "dead_lettered", "parked")
_CAUSES = ("permanent", "max_attempts", "invalid")


def serve(settings: WorkerSettings, types: list[str]) -> None:
    """Serve the metrics (when METRICS_PORT is set) and start counting the queues in PostgreSQL.

    The series of every registered type start at 0, so that `rate()` and `increase()` see the first one.
    """
    if not settings.metrics_port:
        return
    for type_ in types:
        RETRIES.labels(type_)
        for outcome in _OUTCOMES:
            OUTCOMES.labels(type_, outcome)
        for cause in _CAUSES:
            DEAD_LETTERS.labels(type_, cause)
    DEAD_LETTERS.labels("unreadable", "unprocessable")
    for event in ("assigned", "revoked", "lost"):
        REBALANCES.labels(event)
    BATCH_FAILURES.labels("fenced")
    start_http_server(settings.metrics_port, addr=settings.metrics_host)
    QueueGauges(settings.database_url, settings.queue_metrics_interval_s, settings.worker_id).start()


def record(processed: Processed) -> None:
    """Count a batch's outcomes once its transaction committed (a rolled-back batch counts nothing)."""
    for type_, outcome in processed.outcomes:
        OUTCOMES.labels(type_, outcome).inc()
        if outcome == "retrying":
            RETRIES.labels(type_).inc()
    for type_, cause in processed.dead_letters:
        DEAD_LETTERS.labels(type_, cause).inc()
    for type_, seconds in processed.end_to_end:
        END_TO_END_SECONDS.labels(type_).observe(seconds)
    UNREADABLE.inc(processed.unreadable)
    if processed.unreadable:
        DEAD_LETTERS.labels("unreadable", "unprocessable").inc(processed.unreadable)


def batch_done(batch: list[Inbound]) -> None:
    """A committed batch: its size, and its records per partition (each partition's throughput)."""
    BATCH_RECORDS.observe(len(batch))
    for (topic, partition), count in Tally(item.position.key for item in batch).items():
        RECORDS.labels(topic, str(partition)).inc(count)


_QUEUES = """
select (select count(*) from requests where parked),
       (select count(*) from requests where status = 'dead_lettered' and discarded_at is null),
       count(*) filter (where hold_reason = 'retrying'),
       count(*) filter (where hold_reason = 'halted'),
       count(*) filter (where paused_at is not null)
  from user_queues
"""


class QueueGauges:
    """Counts parked requests, held users, paused queues and open dead letters in PostgreSQL every
    `interval` seconds, in a thread and on a connection of its own: the consumer loop never waits for it.
    The counts use the partial indexes on parked requests and open dead letters, and one pass over
    `user_queues` (a row per user with a live queue); a statement timeout bounds what one count costs."""

    def __init__(self, database_url: str, interval: float, name: str, timeout_s: float = 5.0) -> None:
        self._database_url = database_url
        self._interval = interval
        self._name = f"{name}-metrics"
        self._timeout_ms = int(min(timeout_s, interval) * 1000)
        self._conn: psycopg.Connection[Any] | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="queue-gauges", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.refresh()
            except psycopg.Error as exc:  # PostgreSQL away or slow: the gauges keep their last values
                log.info("queue gauges not refreshed", error=str(exc))
                self._close()
            self._stopping.wait(self._interval)
        self._close()

    def refresh(self) -> None:
        row = self._connection().execute(_QUEUES).fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        parked, open_dead_letters, retrying, halted, paused = row
        PARKED.set(parked)
        OPEN_DEAD_LETTERS.set(open_dead_letters)
        HELD.labels("retrying").set(retrying)
        HELD.labels("halted").set(halted)
        PAUSED.set(paused)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._database_url,
                autocommit=True,
                application_name=self._name,
                connect_timeout=5,
                options=f"-c statement_timeout={self._timeout_ms}",
            )
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def record_lag(report: str, assigned: set[tuple[str, int]]) -> None:
    """From librdkafka's statistics (every LAG_INTERVAL_S, inside a poll): the consumer lag of each
    partition we own, the high watermark minus the group's committed offset. Asking the brokers for it
    would wait behind our own fetches, on the consumer's thread."""
    for topic, stats in orjson.loads(report).get("topics", {}).items():
        for partition, figures in stats.get("partitions", {}).items():
            lag = _lag(figures)
            if lag is not None and (topic, int(partition)) in assigned:
                LAG.labels(topic, partition).set(lag)


def _lag(figures: dict[str, int]) -> int | None:
    """A partition's lag in librdkafka's statistics; from the log's start when the group never committed
    (it starts there: `auto.offset.reset` is earliest). None while the watermarks are not known yet."""
    if figures.get("consumer_lag", -1) >= 0:
        return figures["consumer_lag"]
    high, low = figures.get("hi_offset", -1), figures.get("lo_offset", -1)
    return high - max(low, 0) if high >= 0 else None
