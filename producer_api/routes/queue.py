"""GET /v1/queue: the caller's queue at a glance."""

from __future__ import annotations

from fastapi import APIRouter

from producer_api.auth import CurrentUser
from producer_api.models import QueueView
from producer_api.state import State

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.get("", response_model=QueueView)
async def get_queue(user: CurrentUser, state: State) -> QueueView:
    return await state.requests.queue(user.user_id)
