"""HTTP bodies (pydantic). Inputs forbid unknown fields: no body can set a user, a role or a status."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.lifecycle import Status


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_Input):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=10, max_length=128)


class UserOut(BaseModel):
    user_id: UUID
    username: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


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


class QueueView(BaseModel):
    depth: int = Field(description="requests accepted and not yet terminal")
    retrying: int = Field(description="of those, waiting for a retry")
    oldest_queued_at: datetime | None = Field(description="acceptance time of the oldest one waiting to start")
    paused: bool
    state: Literal["empty", "active", "held", "drained"] = Field(
        description="empty: nothing ever; active: work pending; held: waiting behind a retry or a halting"
        " dead letter; drained: everything terminal"
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(default_factory=dict)


class DeadLetterView(RequestView):
    first_failed_at: datetime | None
    last_failed_at: datetime | None


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterView]
    next_cursor: str | None
