"""`stream_worker.db_failures`: which database errors run a tick again, and which belong to a request."""

from __future__ import annotations

import pytest

from stream_worker.db_failures import DatabaseFailure, classify


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("08006", DatabaseFailure.OUTAGE),  # connection_failure
        ("53100", DatabaseFailure.OUTAGE),  # disk_full
        ("53300", DatabaseFailure.OUTAGE),  # too_many_connections
        ("57P01", DatabaseFailure.OUTAGE),  # admin_shutdown (a restart)
        ("57P03", DatabaseFailure.OUTAGE),  # cannot_connect_now (starting up)
        ("25P03", DatabaseFailure.OUTAGE),  # idle_in_transaction_session_timeout
        ("58030", DatabaseFailure.OUTAGE),  # io_error
        ("40001", DatabaseFailure.CONFLICT),  # serialization_failure
        ("40P01", DatabaseFailure.CONFLICT),  # deadlock_detected
        ("57014", DatabaseFailure.TRANSIENT),  # query_canceled
        ("55P03", DatabaseFailure.TRANSIENT),  # lock_not_available
        ("54000", DatabaseFailure.REFUSED),  # program_limit_exceeded: an index row over 2,704 bytes
        ("54001", DatabaseFailure.REFUSED),  # statement_too_complex
        ("22012", DatabaseFailure.REFUSED),  # division_by_zero
        ("22P05", DatabaseFailure.REFUSED),  # untranslatable_character (\u0000 in jsonb)
        ("23505", DatabaseFailure.REFUSED),  # unique_violation
        ("25P02", DatabaseFailure.REFUSED),  # in_failed_sql_transaction
        ("42P01", DatabaseFailure.REFUSED),  # undefined_table
        ("XX000", DatabaseFailure.REFUSED),  # internal_error: about this statement, not the server
    ],
)
def test_a_healthy_connections_error_is_classified_by_its_sqlstate(sqlstate: str, expected: DatabaseFailure) -> None:
    assert classify(sqlstate, connection_lost=False) is expected


@pytest.mark.parametrize("sqlstate", [None, "54000", "57014", "22012"])
def test_an_error_that_cost_the_connection_is_an_outage_whatever_its_sqlstate(sqlstate: str | None) -> None:
    assert classify(sqlstate, connection_lost=True) is DatabaseFailure.OUTAGE


def test_an_error_without_a_server_answer_is_an_outage() -> None:
    assert classify(None, connection_lost=False) is DatabaseFailure.OUTAGE


def test_only_outages_and_conflicts_run_the_tick_again() -> None:
    assert [f for f in DatabaseFailure if f.rerun] == [DatabaseFailure.OUTAGE, DatabaseFailure.CONFLICT]
