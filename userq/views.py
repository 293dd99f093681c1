"""What the API answers (see its /openapi.json), as typed dictionaries; timestamps stay ISO 8601 strings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict


class NewRequest(TypedDict):
    """One request of a batch to submit."""

    type: str
    payload: NotRequired[dict[str, Any]]


class User(TypedDict):
    user_id: str
    username: str


class RequestView(TypedDict):
    request_id: str
    user_id: str
    type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    accepted_at: str
    started_at: str | None
    completed_at: str | None
    sequence: int
    processed_seq: int | None


class DeadLetterView(RequestView):
    first_failed_at: str | None
    last_failed_at: str | None


class QueueView(TypedDict):
    depth: int
    retrying: int
    oldest_queued_at: str | None
    paused: bool
    paused_by: str | None
    hold: str | None
    state: str


class Purged(TypedDict):
    cancelled: list[str]
    queue: QueueView


class StreamEvent(TypedDict):
    """The data of one event of the live stream: a request's state change."""

    seq: int
    request_id: str
    type: str
    status: str
    attempt: int
    at: str
    error: dict[str, Any] | None
    sequence: int | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of the live stream."""

    id: int | None
    event: str
    data: StreamEvent
