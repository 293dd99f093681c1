"""Admin-only routes (role `admin`): dead letters (list, redrive one or all of a user's, discard) and
queues (overview, any user's queue, pause, resume, purge)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from producer_api.auth import AdminUser
from producer_api.errors import Busy, HaltedByAnother
from producer_api.models import BatchView, DeadLetterPage, Purged, QueueOverview, QueueView, RequestView
from producer_api.openapi import refusals
from producer_api.services.queues import Order
from producer_api.state import State

router = APIRouter(prefix="/v1/admin", tags=["admin"])

_CURSOR = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9]{1,18}$"  # user_id:sequence


@router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    admin: AdminUser,
    state: State,
    user_id: uuid.UUID | None = None,
    type_: Annotated[str | None, Query(alias="type", max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=_CURSOR, description="`next_cursor` of the page before")] = None,
) -> DeadLetterPage:
    return await state.admin.dead_letters(user_id, type_, limit, _after(cursor))


@router.post(
    "/dead-letters/{request_id:uuid}/redrive",
    status_code=202,
    response_model=RequestView,
    responses=refusals(Busy, HaltedByAnother),
)
async def redrive(request_id: uuid.UUID, admin: AdminUser, state: State) -> RequestView:
    [view] = await state.admin.redrive(None, request_id)
    return view


@router.post(
    "/users/{user_id:uuid}/dead-letters/redrive",
    status_code=202,
    response_model=BatchView,
    responses=refusals(Busy, HaltedByAnother),
)
async def redrive_user(user_id: uuid.UUID, admin: AdminUser, state: State) -> BatchView:
    return BatchView(requests=await state.admin.redrive(user_id, None))


@router.post("/dead-letters/{request_id:uuid}/discard", response_model=RequestView, responses=refusals(Busy))
async def discard(request_id: uuid.UUID, admin: AdminUser, state: State) -> RequestView:
    return await state.admin.discard(request_id)


@router.get("/queues", response_model=QueueOverview)
async def queue_overview(
    admin: AdminUser,
    state: State,
    order: Order = "depth",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> QueueOverview:
    """Totals, and the deepest queues (`order=depth`) or those whose oldest request waits longest (`oldest`)."""
    return await state.queues.overview(order, limit)


@router.get("/queues/{user_id:uuid}", response_model=QueueView)
async def user_queue(user_id: uuid.UUID, admin: AdminUser, state: State) -> QueueView:
    return await state.queues.view(user_id)


@router.post("/queues/{user_id:uuid}/pause", response_model=QueueView, responses=refusals(Busy))
async def pause_user(user_id: uuid.UUID, admin: AdminUser, state: State) -> QueueView:
    """Pause any user's queue; only an operator can resume it."""
    return await state.queues.pause(user_id, "admin")


@router.post("/queues/{user_id:uuid}/resume", response_model=QueueView, responses=refusals(Busy))
async def resume_user(user_id: uuid.UUID, admin: AdminUser, state: State) -> QueueView:
    return await state.queues.resume(user_id, "admin")


@router.post("/queues/{user_id:uuid}/purge", response_model=Purged, responses=refusals(Busy))
async def purge_user(user_id: uuid.UUID, admin: AdminUser, state: State) -> Purged:
    return await state.queues.purge(user_id, "admin")


def _after(cursor: str | None) -> tuple[uuid.UUID, int] | None:
    if cursor is None:
        return None
    user, sequence = cursor.split(":")  # as _CURSOR says
    return uuid.UUID(user), int(sequence)
