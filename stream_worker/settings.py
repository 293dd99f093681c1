"""Worker settings: `CommonSettings` plus the fields below, from the environment or `.env`."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field

from runtime.settings import CommonSettings


class WorkerSettings(CommonSettings):
    worker_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="Name of this worker in logs and Kafka's client.id.",
    )
    batch_max_records: int = Field(500, ge=1, le=10_000, description="Records read per poll at most.")
    handler_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="An attempt running longer fails transiently; a type's timeout_s overrides it."
    )
    handler_threads: int = Field(
        16, ge=1, le=256, description="Threads that run plain `def` handlers (async ones need none), at most."
    )
    max_result_bytes: int = Field(
        256 << 10,
        ge=1024,
        le=900 << 10,
        description="Largest result a handler may return (JSON); a larger one dead-letters its request. Keep the"
        " result event within the broker's message.max.bytes (1 MiB by default).",
    )
    chain_max_records: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Requests of one user a chain runs back to back at most, before a tick records them.",
    )
    max_in_flight_records: int = Field(
        20_000, ge=100, description="Records held in memory at most, all users together; reading pauses above it."
    )
    tick_max_rows: int = Field(
        2_000, ge=10, description="Request rows one recording transaction reads at most (a bound on its length)."
    )
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="On SIGTERM, how long running handlers may take to finish and be recorded."
    )
    poll_timeout_s: float = Field(0.5, gt=0, le=10, description="How long one poll waits for records.")
    max_attempts: int = Field(5, ge=1, le=100, description="Attempts before a request is dead-lettered.")
    retry_base_delay_s: float = Field(0.2, gt=0, description="Backoff of the first retry (doubles).")
    retry_max_delay_s: float = Field(30.0, gt=0, description="Backoff cap.")
    session_timeout_ms: int = Field(
        10_000, ge=6_000, le=300_000, description="A worker silent this long is removed from the group."
    )
    max_poll_interval_ms: int = Field(
        300_000, ge=10_000, description="A batch must finish within this, or the worker leaves the group."
    )
    infra_backoff_s: float = Field(1.0, gt=0, description="Wait before re-running a batch after an outage.")
    delivery_timeout_s: float = Field(30.0, gt=0, description="How long results may take to be delivered.")
    dead_letter_policy: Literal["continue", "halt"] = Field(
        "continue",
        description="After a dead letter: 'continue' runs the user's later requests, 'halt' holds them until an"
        " operator redrives or discards it. Request types may override it.",
    )
    max_record_bytes: int = Field(
        (64 << 10) + (16 << 10),
        ge=4096,
        description="Largest record (key, value and headers) a worker reads; a larger one is dead-lettered"
        " as unprocessable without its content. Keep it above the API's MAX_PAYLOAD_BYTES plus 16 KiB of"
        " envelope (ids, type, times, the last error of a retry).",
    )
    drain_limit: int = Field(200, ge=1, description="Parked requests run in one transaction at most.")
    max_record_crashes: int = Field(
        3,
        ge=2,
        le=100,
        description="A request whose worker died this many times while it ran (the first time maybe beside"
        " others, then alone: see stream_worker/suspects.py) is dead-lettered (crashed_worker), not run again.",
    )
    max_scheduled_wakeups: int = Field(
        10_000, ge=10, description="Wake-ups held in memory at most; reading the retry topic pauses above it."
    )
    wakeup_horizon_s: float = Field(
        300.0,
        ge=1,
        description="A wake-up due later than this is not held in memory: its retry waits in PostgreSQL and a"
        " sweep (every OUTBOX_SWEEP_INTERVAL_S, which must stay well below it) publishes a new wake-up when it"
        " comes within this horizon. Bounds how long a wake-up keeps the retry partition's commit point back.",
    )
    db_idle_in_transaction_timeout_s: float = Field(
        60.0,
        gt=0,
        description="PostgreSQL ends a worker's transaction idle this long (a frozen worker). Handlers never run"
        " inside a transaction; database steps do, and must stay well below it.",
    )
    fault_kill_after_db_commits: int = Field(
        0,
        ge=0,
        description="Testing only: SIGKILL itself after this many commits that recorded outcomes, before the offsets.",
    )
    outbox_sweep_interval_s: float = Field(
        5.0, gt=0, description="How often a worker publishes outbox records that a stopped worker left behind."
    )
    lag_interval_s: float = Field(
        5.0, ge=0.1, le=3600, description="How often the consumer lag metric is updated (librdkafka statistics)."
    )
    metrics_port: int = Field(0, ge=0, le=65535, description="Serve Prometheus metrics on METRICS_HOST:PORT (0: off).")
    metrics_host: str = Field("127.0.0.1", description="Address the metrics are served on; 0.0.0.0 in containers.")
    queue_metrics_interval_s: float = Field(
        15.0,
        gt=0,
        description="How often a worker serving metrics counts parked requests, held users, paused queues and"
        " open dead letters in PostgreSQL (one query, at most 5 s).",
    )
