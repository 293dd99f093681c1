"""HTTP bodies (pydantic). Inputs forbid unknown fields: no body can set a user, a role or a status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from producer_api.passwords import MAX_LENGTH, MIN_LENGTH
from schemas.lifecycle import Status


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_Input):
    """A login: any password up to the longest one a registration accepts (a wrong one is a 401)."""

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class Registration(Credentials):
    """A new user. Beyond the length, `producer_api.passwords.check` applies the other password rules."""

    password: str = Field(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters, any Unicode; not containing the username;"
        " not a common password",
    )


class UserOut(BaseModel):
    user_id: UUID
    username: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class Jwk(BaseModel):
    """A public key (RFC 7517): n and e for RSA, crv and x for OKP (Ed25519, Ed448)."""

    kid: str = Field(description="RFC 7638 thumbprint of the key, the `kid` header of the tokens it signs")
    kty: Literal["RSA", "OKP"]
    alg: Literal["RS256", "EdDSA"]
    use: Literal["sig"]
    n: str | None = None
    e: str | None = None
    crv: Literal["Ed25519", "Ed448"] | None = None
    x: str | None = None


class Jwks(BaseModel):
    keys: list[Jwk]


class RefreshRequest(_Input):
    refresh_token: str = Field(min_length=1, max_length=4096)


class NewRequest(_Input):
    type: str = Field(min_length=1, max_length=100, examples=["demo.echo"])
    payload: dict[str, Any] = Field(default_factory=dict, examples=[{"hello": "world"}])


class NewBatch(_Input):
    requests: list[NewRequest] = Field(min_length=1)


class RequestView(BaseModel):
    request_id: UUID
    user_id: UUID
    type: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    accepted_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    sequence: int
    processed_seq: int | None


class BatchView(BaseModel):
    requests: list[RequestView]


class RequestPage(BaseModel):
    requests: list[RequestView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


QueueState = Literal["none", "active", "drained", "removed"]


class QueueView(BaseModel):
    depth: int = Field(description="requests accepted and not yet terminal")
    retrying: int = Field(description="of those, waiting for a retry")
    oldest_queued_at: datetime | None = Field(description="acceptance time of the oldest one waiting to start")
    paused: bool = Field(description="a paused queue accepts requests but starts none")
    paused_by: Literal["user", "admin"] | None = Field(
        description="who paused it; a user cannot resume an admin's pause"
    )
    hold: Literal["retrying", "halted"] | None = Field(
        description="what holds the later requests back: a request waiting for its retry, or a dead letter that"
        " halts the user until an operator acts"
    )
    state: QueueState = Field(
        description="none: never used; active: requests pending; drained: everything terminal; removed: drained"
        " and its user disconnected, so the queue was deleted (history stays)"
    )


class QueueSummary(QueueView):
    user_id: UUID
    username: str


class QueueOverview(BaseModel):
    active_queues: int = Field(description="queues with requests pending")
    pending_requests: int = Field(description="requests accepted and not yet terminal, all users")
    paused_queues: int
    held_queues: int
    queues: list[QueueSummary] = Field(description="the first `limit` queues in the requested order")


class StreamEvent(BaseModel):
    """The `data` of one live-stream event: a state change of one of the caller's requests."""

    seq: int = Field(description="the user's event number, also the SSE `id`")
    request_id: UUID
    type: str
    status: Status
    attempt: int
    at: datetime
    error: dict[str, Any] | None
    sequence: int | None
    result: dict[str, Any] | None = Field(description="set on `succeeded`")


class Purged(BaseModel):
    cancelled: list[UUID] = Field(description="the requests cancelled, in their queue order")
    queue: QueueView


class RequestTypeView(BaseModel):
    type: str
    payload_schema: dict[str, Any] = Field(description="JSON Schema of its payload, as the API validates it")
    payload_required: bool = Field(description="false: a missing payload is read as {}, a valid one")


class RequestTypes(BaseModel):
    types: list[RequestTypeView] = Field(description="every registered request type, by name")


class WaitingRequest(RequestView):
    parked: bool = Field(
        description="held back in PostgreSQL (its user is held, paused or has earlier parked requests) until a"
        " wake-up drains it; false: its record is on the way to a worker"
    )


class UserRequests(BaseModel):
    """A user's requests not yet terminal, in queue order, and what holds them."""

    queue: QueueView
    held_by: UUID | None = Field(description="the request that holds the others: retrying, or a halting dead letter")
    requests: list[WaitingRequest]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class PartitionLag(BaseModel):
    topic: str
    partition: int
    end_offset: int = Field(description="records written to the partition so far (its high watermark)")
    committed: int = Field(description="the workers' group's committed offset")
    lag: int = Field(description="records written and not yet committed by the workers")


class Consumers(BaseModel):
    """The workers' consumer group as the broker sees it. The request rate is the change of the requests
    topic's end offsets (accepted) and of the committed offsets (done) between two readings."""

    group: str
    read_at: datetime
    partitions: list[PartitionLag]
    grafana_url: str | None = Field(description="GRAFANA_URL, when set")
    kafka_ui_url: str | None = Field(description="KAFKA_UI_URL, when set")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(default_factory=dict)


class DeadLetterView(RequestView):
    first_failed_at: datetime | None
    last_failed_at: datetime | None


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterView]
    next_cursor: str | None


Row = TypeVar("Row")


def page_of(rows: list[Row], limit: int, cursor: Callable[[Row], str]) -> tuple[list[Row], str | None]:
    """A page from `limit + 1` rows read in order: at most `limit` of them, and the cursor after the last
    when there are more (None when this is the last page)."""
    page = rows[:limit]
    return page, cursor(page[-1]) if len(rows) > limit else None


def columns_of(view: type[BaseModel]) -> str:
    """The `requests` columns a view is read from: its fields, by the same names."""
    return ", ".join(view.model_fields)
