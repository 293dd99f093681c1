"""The caller's queue: GET /v1/queue, and POST /v1/queue/pause, /resume and /purge."""

from __future__ import annotations

from fastapi import APIRouter

from producer_api.auth import CurrentUser
from producer_api.errors import Busy, PausedByOperator
from producer_api.models import Purged, QueueView
from producer_api.openapi import refusals
from producer_api.state import State

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.get("", response_model=QueueView)
async def get_queue(user: CurrentUser, state: State) -> QueueView:
    return await state.queues.view(user.user_id)


@router.post("/pause", response_model=QueueView, responses=refusals(Busy))
async def pause(user: CurrentUser, state: State) -> QueueView:
    """Stop starting requests: new ones are still accepted and wait. Answers once none is running (409 `busy`
    when one runs on for more than 2 s: try again)."""
    return await state.queues.pause(user.user_id, "user")


@router.post("/resume", response_model=QueueView, responses=refusals(Busy, PausedByOperator))
async def resume(user: CurrentUser, state: State) -> QueueView:
    return await state.queues.resume(user.user_id, "user")


@router.post("/purge", response_model=Purged, responses=refusals(Busy))
async def purge(user: CurrentUser, state: State) -> Purged:
    """Cancel every request still waiting to start, in order; one already started finishes."""
    return await state.queues.purge(user.user_id, "user")
