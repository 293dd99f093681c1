"""`stream_worker.db_failures` on the errors a real PostgreSQL raises: a statement refused inside a healthy
connection belongs to its request; a connection ended by the server is an outage."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from harness.stack import Stack
from stream_worker.db_failures import DatabaseFailure, classify

Conn = psycopg.Connection[Any]


def _index_row_too_large(conn: Conn) -> None:
    conn.execute("create temporary table notes (note text primary key)")
    conn.execute("insert into notes values (%s)", (secrets.token_urlsafe(6_000),))  # random: not compressible


def _statement_timeout(conn: Conn) -> None:
    conn.execute("set local statement_timeout = '20ms'")
    conn.execute("select pg_sleep(1)")


def _lock_timeout(conn: Conn, stack: Stack) -> None:
    with psycopg.connect(stack.database_url) as holder:
        holder.execute("lock table users in access exclusive mode")
        conn.execute("set local lock_timeout = '20ms'")
        conn.execute("select count(*) from users")


def _server_ended_it(conn: Conn, stack: Stack) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
    conn.execute("select 1")


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        (lambda conn, _stack: _index_row_too_large(conn), DatabaseFailure.REFUSED),
        (lambda conn, _stack: conn.execute("select 1 / 0"), DatabaseFailure.REFUSED),
        (lambda conn, _stack: _statement_timeout(conn), DatabaseFailure.TRANSIENT),
        (_lock_timeout, DatabaseFailure.TRANSIENT),
        (_server_ended_it, DatabaseFailure.OUTAGE),
    ],
    ids=["index_row_too_large", "division_by_zero", "statement_timeout", "lock_timeout", "terminated"],
)
def test_real_errors_are_classified_by_sqlstate_and_connection_state(
    stack: Stack, fail: Callable[[Conn, Stack], object], expected: DatabaseFailure
) -> None:
    with psycopg.connect(stack.database_url) as conn:
        with pytest.raises(psycopg.Error) as raised:
            fail(conn, stack)
        assert classify(raised.value.sqlstate, conn.closed or conn.broken) is expected, raised.value.sqlstate
