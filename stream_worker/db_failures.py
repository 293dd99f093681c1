"""What a database error means for a tick: our infrastructure failing, or one statement refused (pure).

Only a lost connection, a server that is unavailable or out of resources, and a transaction that lost a
race are reasons to roll a tick back and run it again: they pass, and nothing about the records is wrong.
Anything else PostgreSQL raises inside a healthy connection refuses one statement, and running the same
statement again refuses it again: in a type's database step it is that request's outcome (a program
limit such as an index row over 2,704 bytes, bad data, a broken constraint: permanent; a statement
cancelled, a lock or statement timeout: transient, retried within the type's `max_attempts`).
By SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html), class first.
"""

from __future__ import annotations

from enum import Enum


class DatabaseFailure(Enum):
    OUTAGE = "outage"  # the connection or the server failed: roll back, wait, run the tick again
    CONFLICT = "conflict"  # the transaction lost a race (serialization, deadlock): run the tick again
    TRANSIENT = "transient"  # one statement refused for now: the request's transient failure
    REFUSED = "refused"  # one statement refused for good: the request's permanent failure

    @property
    def rerun(self) -> bool:
        """Whether the tick is rolled back and run again (else the failure belongs to a request)."""
        return self in (DatabaseFailure.OUTAGE, DatabaseFailure.CONFLICT)


_OUTAGE_CLASSES = ("08", "53", "58")  # connection exception, insufficient resources, system error (I/O)
_OUTAGE_CODES = (
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "57P04",  # database_dropped
    "57P05",  # idle_session_timeout
    "25P03",  # idle_in_transaction_session_timeout: the tick outlived DB_IDLE_IN_TRANSACTION_TIMEOUT_S
    "XX001",  # data_corrupted
    "XX002",  # index_corrupted
)
_TRANSIENT_CODES = (
    "57014",  # query_canceled: statement_timeout, or pg_cancel_backend
    "55P03",  # lock_not_available: lock_timeout, NOWAIT
    "55006",  # object_in_use
)


def classify(sqlstate: str | None, connection_lost: bool) -> DatabaseFailure:
    """The meaning of an error with this SQLSTATE (None: the client raised it, no server answer), on a
    connection that is now lost (closed or broken) or not."""
    if connection_lost or sqlstate is None:
        return DatabaseFailure.OUTAGE
    if sqlstate.startswith(_OUTAGE_CLASSES) or sqlstate in _OUTAGE_CODES:
        return DatabaseFailure.OUTAGE
    if sqlstate.startswith("40"):  # transaction_rollback: serialization_failure, deadlock_detected
        return DatabaseFailure.CONFLICT
    if sqlstate in _TRANSIENT_CODES:
        return DatabaseFailure.TRANSIENT
    return DatabaseFailure.REFUSED
