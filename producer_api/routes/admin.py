"""Admin-only routes (role `admin`): dead letters: list, redrive one or all of a user's, discard."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from producer_api.auth import AdminUser
from producer_api.errors import ApiError, not_found, unavailable
from producer_api.models import BatchView, DeadLetterPage, RequestView
from producer_api.services.admin import Busy, HaltedByAnother, NotAccepted, NothingToDo
from producer_api.state import State

router = APIRouter(prefix="/v1/admin", tags=["admin"])

_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "not an admin"},
    404: {"description": "no such dead letter"},
    409: {"description": "the user has a retry in flight"},
    503: {"description": "Kafka did not acknowledge"},
}


@router.get("/dead-letters", response_model=DeadLetterPage, responses=_RESPONSES)
async def list_dead_letters(
    admin: AdminUser,
    state: State,
    user_id: uuid.UUID | None = None,
    type_: Annotated[str | None, Query(alias="type", max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> DeadLetterPage:
    return await state.admin.dead_letters(user_id, type_, limit, _after(cursor))


@router.post("/dead-letters/{request_id}/redrive", status_code=202, response_model=RequestView, responses=_RESPONSES)
async def redrive(request_id: uuid.UUID, admin: AdminUser, state: State) -> RequestView:
    [view] = await _redrive(state, None, request_id)
    return view


@router.post("/users/{user_id}/dead-letters/redrive", status_code=202, response_model=BatchView, responses=_RESPONSES)
async def redrive_user(user_id: uuid.UUID, admin: AdminUser, state: State) -> BatchView:
    return BatchView(requests=await _redrive(state, user_id, None))


@router.post("/dead-letters/{request_id}/discard", response_model=RequestView, responses=_RESPONSES)
async def discard(request_id: uuid.UUID, admin: AdminUser, state: State) -> RequestView:
    try:
        return await state.admin.discard(request_id)
    except NothingToDo:
        raise not_found("dead letter") from None
    except NotAccepted:
        raise unavailable("the queue is unavailable; nothing was changed") from None


async def _redrive(state: State, user_id: uuid.UUID | None, request_id: uuid.UUID | None) -> list[RequestView]:
    try:
        return await state.admin.redrive(user_id, request_id)
    except NothingToDo:
        raise not_found("dead letter") from None
    except Busy:
        raise ApiError(409, "retry_in_flight", "the user has a retry in flight; redrive once it settles") from None
    except HaltedByAnother as exc:
        raise ApiError(
            409,
            "halted_by_another",
            f"dead letter {exc.args[0]} halts this user; redrive or discard it first, or redrive all of the user's",
        ) from None
    except NotAccepted:
        raise unavailable("the queue is unavailable; nothing was changed") from None


def _after(cursor: str | None) -> tuple[uuid.UUID, int] | None:
    if cursor is None:
        return None
    try:
        user, sequence = cursor.split(":")
        return uuid.UUID(user), int(sequence)
    except ValueError:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned") from None
