"""The worker's PostgreSQL connection, opened on first use and again after a failure, and its clock."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from store import requests
from store.db import use_orjson
from stream_worker.clock import Clock
from stream_worker.settings import WorkerSettings


class Connection:
    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._conn: psycopg.Connection[Any] | None = None
        self._clock: Clock | None = None

    def get(self) -> psycopg.Connection[Any]:
        """The connection, opened (again) when there is none."""
        if self._conn is None or self._conn.closed:
            timeout_ms = int(self._settings.db_idle_in_transaction_timeout_s * 1000)
            self._conn = psycopg.connect(
                self._settings.database_url,
                autocommit=True,
                application_name=self._settings.worker_id,
                connect_timeout=5,
                # a worker frozen mid-transaction (a zombie) must not hold users' locks for ever
                options=f"-c idle_in_transaction_session_timeout={timeout_ms}",
            )
            use_orjson(self._conn)
            if self._clock is None:  # once: anchored again after a reconnect, times recorded on either side of
                before = time.monotonic()  # it could disagree by the anchor's own error
                database_now = requests.now(self._conn)
                self._clock = Clock(database_now, (before + time.monotonic()) / 2)
        return self._conn

    @property
    def clock(self) -> Clock:
        """PostgreSQL's clock, anchored when the process first connected (`get` first)."""
        assert self._clock is not None
        return self._clock

    def drop(self) -> None:
        """Close it: after a failure, the next `get` opens a new one."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
