"""Admin-only routes (role `admin`): dead letters (list, redrive one or all of a user's, discard), queues
(overview, any user's queue and its waiting requests, pause, resume, purge) and the workers' consumer lag."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from anyio import to_thread
from confluent_kafka import KafkaException
from fastapi import APIRouter, Query

from producer_api.auth import AdminUser
from producer_api.errors import Busy, HaltedByAnother, Unavailable
from producer_api.models import (
    BatchView,
    Consumers,
    DeadLetterPage,
    PartitionLag,
    Purged,
    QueueOverview,
    QueueView,
    RequestView,
    UserRequests,
)
from producer_api.openapi import refusals
from producer_api.services.queues import Order
from producer_api.state import State
from runtime import kafka

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


@router.get("/queues/{user_id:uuid}/requests", response_model=UserRequests)
async def user_requests(
    user_id: uuid.UUID,
    admin: AdminUser,
    state: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the page before")
    ] = None,
) -> UserRequests:
    """The user's requests not yet terminal, in queue order: which are parked, and what holds the queue."""
    return await state.queues.waiting(user_id, limit, None if cursor is None else int(cursor))


@router.get("/consumers", response_model=Consumers)
async def consumers(admin: AdminUser, state: State) -> Consumers:
    """The workers' consumer lag per partition of the requests and retry topics, read from the broker now."""
    settings = state.settings
    try:
        partitions = await to_thread.run_sync(kafka.consumer_lag, settings, LAG_TIMEOUT_S)
    except KafkaException as exc:
        raise Unavailable(f"Kafka did not answer: {exc}") from None
    return Consumers(
        group=settings.group_id,
        read_at=datetime.now(UTC),
        partitions=[PartitionLag(**asdict(p), lag=p.lag) for p in partitions],
        grafana_url=settings.grafana_url,
        kafka_ui_url=settings.kafka_ui_url,
    )


LAG_TIMEOUT_S = 5.0


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
