"""POST /v1/requests, POST /v1/requests/batch, GET /v1/requests/{id}, GET /v1/requests."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from producer_api.auth import CurrentUser
from producer_api.errors import (
    BatchTooLarge,
    IdempotencyKeyReused,
    InvalidPayload,
    NotFound,
    RateLimited,
    UnknownType,
    UserQueueFull,
)
from producer_api.middleware import current_trace_id
from producer_api.models import BatchView, NewBatch, NewRequest, RequestPage, RequestView
from producer_api.openapi import refusals
from producer_api.state import State
from schemas.lifecycle import Status

router = APIRouter(prefix="/v1/requests", tags=["requests"])

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]


async def _submit(state: State, user: CurrentUser, requests: list[NewRequest], key: str | None) -> list[RequestView]:
    async with state.limits.admitted(user.user_id, len(requests)):
        return await state.requests.submit(user.user_id, requests, current_trace_id(), key)


# the refusals of `_submit`; `producer_api.openapi` adds those that any body and token imply
_SUBMIT_REFUSALS = (UnknownType, InvalidPayload, RateLimited, UserQueueFull)


@router.post(
    "", status_code=202, response_model=RequestView, responses=refusals(*_SUBMIT_REFUSALS, IdempotencyKeyReused)
)
async def submit(
    body: NewRequest, user: CurrentUser, state: State, response: Response, idempotency_key: IdempotencyKey = None
) -> RequestView:
    [view] = await _submit(state, user, [body], idempotency_key)
    response.headers["Location"] = f"/v1/requests/{view.request_id}"
    return view


@router.post("/batch", status_code=202, response_model=BatchView, responses=refusals(*_SUBMIT_REFUSALS, BatchTooLarge))
async def submit_batch(body: NewBatch, user: CurrentUser, state: State) -> BatchView:
    if len(body.requests) > state.settings.max_batch_requests:
        raise BatchTooLarge(state.settings.max_batch_requests)
    return BatchView(requests=await _submit(state, user, body.requests, None))


@router.get("/{request_id:uuid}", response_model=RequestView)
async def get_request(request_id: uuid.UUID, user: CurrentUser, state: State) -> RequestView:
    view = await state.requests.get(user.user_id, request_id)
    if view is None:
        raise NotFound("request")
    return view


@router.get("", response_model=RequestPage)
async def list_requests(
    user: CurrentUser,
    state: State,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the page before")
    ] = None,
) -> RequestPage:
    return await state.requests.page(user.user_id, status, limit, None if cursor is None else int(cursor))
