"""The request log: one `Event` (`schemas.lifecycle`) per state transition, numbered per user in SQL.

API and worker alike collect a transaction's events and record them with one statement, the last of the
transaction (see migration 0006): the per-user numbering then follows commit order.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from schemas.lifecycle import Event

RECORD_EVENTS = (  # binary parameters: lists dump several times faster than in text
    "select record_events(%b::uuid[], %b::uuid[], %b::text[], %b::int[], %b::timestamptz[], %b::jsonb[], %b)"
)
CHANNEL = "userq_events"  # notified with the user_id when a transaction recorded events of that user


def params(events: list[Event], actor: str) -> tuple[Any, ...]:
    """The arguments of `RECORD_EVENTS` for `events`, in their order."""
    return (
        [e.user_id for e in events],
        [e.request_id for e in events],
        [e.status for e in events],
        [e.attempt for e in events],
        [e.at for e in events],
        [Jsonb(e.error) if e.error is not None else None for e in events],
        actor,
    )


def record(conn: psycopg.Connection[Any], events: list[Event], actor: str) -> None:
    """Number and store a transaction's state changes; must be its last statement."""
    if events:
        conn.execute(RECORD_EVENTS, params(events, actor))
