"""How big a bench run is: the full default (`make bench`) and `--quick` (a smoke run, a minute or two)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Plan:
    mode: str
    users: int  # N: distinct users of the HTTP phases
    per_user: int  # M: requests of each, in the maximum phase and again in the fixed-rate phase
    window: int  # requests in flight at most (the maximum phase; a cap in the fixed-rate one)
    rate_fraction: float  # the fixed rate, as a fraction of the maximum accepted/s just measured
    backlog: int  # requests queued (workers stopped) when the maximum is measured again, in a stack of its own
    backlog_per_user: int  # of them, each of the N users' own: the pending cap counts these
    backlog_users: int  # other users, who hold the rest
    partitions: int  # of the main stack's topics
    api_workers: int  # uvicorn processes of the API, and of the bare endpoint
    load_processes: int  # load generator processes
    sleep_users: int  # demo.sleep phase: users, all on one partition
    sleep_per_user: int
    sleep_ms: int
    wide_users: int  # its second shape: more users, longer sleeps
    wide_per_user: int
    wide_ms: int
    slow_requests: int  # slow phase: one user's batch of demo.sleep
    slow_ms: int
    slow_others: int  # users sending demo.echo at 2/s each meanwhile
    memory_records: int  # memory phase: the same record count for both runs
    memory_users_few: int
    memory_users_many: int
    kafka_records: int  # Kafka perf tools
    pg_rows: int  # PostgreSQL batch upsert
    pg_batch: int
    naive_max_s: float  # the naive worker stops after this long (or when it has read the whole backlog)
    drain_timeout_s: float

    @property
    def requests(self) -> int:
        return self.users * self.per_user

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


FULL = Plan(
    mode="full",
    users=100,
    per_user=100,
    window=64,
    rate_fraction=0.5,
    backlog=1_000_000,
    backlog_per_user=1_000,  # 100,000 of the million; with the M submitted, far under MAX_PENDING_PER_USER
    backlog_users=100_000,  # 9 each
    partitions=4,
    api_workers=1,
    load_processes=1,
    sleep_users=200,
    sleep_per_user=100,
    sleep_ms=10,
    wide_users=2_000,
    wide_per_user=10,
    wide_ms=100,
    slow_requests=7,
    slow_ms=10_000,
    slow_others=48,
    memory_records=1_000_000,  # one record per user is the fewest that makes a million users distinct
    memory_users_few=1_000,
    memory_users_many=1_000_000,
    kafka_records=500_000,
    pg_rows=200_000,
    pg_batch=500,
    naive_max_s=20.0,
    drain_timeout_s=1800.0,
)

QUICK = replace(
    FULL,
    mode="quick",
    users=10,
    per_user=30,
    window=32,
    backlog=10_000,
    backlog_per_user=100,
    backlog_users=1_000,
    sleep_per_user=2,
    wide_users=200,
    wide_per_user=2,
    slow_requests=2,
    slow_ms=1_000,
    slow_others=8,
    memory_records=1_000,
    memory_users_few=100,
    memory_users_many=1_000,
    kafka_records=10_000,
    pg_rows=10_000,
    naive_max_s=5.0,
    drain_timeout_s=300.0,
)
