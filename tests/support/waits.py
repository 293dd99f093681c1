"""Waiting in tests: for an observable event (a row, a log line, a metric, a message), with a deadline
that fails loudly. Never for a fixed time: on a slow machine a sleep is too short, and a check that
something did *not* happen after a sleep passes without the system having had its chance. Such a check
first waits for a later event that proves it had (a later request done, a janitor round seen).

Log lines: `harness.processes.wait_for_log`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """The first truthy answer of `probe`, asked every `interval` s; AssertionError naming `what` after
    `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return found


def wait_for_lock_wait(database_url: str, pid: int, what: str, timeout: float = 10) -> None:
    """Until the PostgreSQL backend `pid` waits for a lock (`what` names the wait in the failure)."""
    with psycopg.connect(database_url, autocommit=True) as observer:
        wait_until(
            lambda: observer.execute(
                "select 1 from pg_stat_activity where pid = %s and wait_event_type = 'Lock'", (pid,)
            ).fetchone(),
            timeout,
            what,
        )
