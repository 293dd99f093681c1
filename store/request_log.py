"""The request log: one `Event` per state transition, numbered per user by `record_events` in SQL.

API and worker alike collect a transaction's events and record them with one statement, the last of the
transaction (see migration 0006): the per-user numbering then follows commit order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

RECORD_EVENTS = (  # binary parameters: lists dump several times faster than in text
    "select record_events(%b::uuid[], %b::uuid[], %b::text[], %b::int[], %b::timestamptz[], %b::jsonb[], %b)"
)
CHANNEL = "userq_events"  # notified with the user_id when a transaction recorded events of that user


@dataclass(frozen=True)
class Event:
    user_id: UUID
    request_id: UUID
    status: str
    attempt: int
    at: datetime
    error: dict[str, Any] | None = None


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
