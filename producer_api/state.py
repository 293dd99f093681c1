"""What the app holds for its lifetime, built in the lifespan and reached through `State`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from producer_api.producer import AsyncProducer
from producer_api.services.admin import AdminService
from producer_api.services.feed import Streams
from producer_api.services.limits import UserLimits
from producer_api.services.queues import QueueService
from producer_api.services.requests import RequestService
from producer_api.services.sessions import SessionRoles
from producer_api.services.throttle import LoginThrottle
from producer_api.settings import ApiSettings


@dataclass(frozen=True)
class AppState:
    settings: ApiSettings
    pool: AsyncConnectionPool
    producer: AsyncProducer
    requests: RequestService
    queues: QueueService
    streams: Streams
    admin: AdminService
    logins: LoginThrottle
    limits: UserLimits
    roles: SessionRoles


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a plain function dependency in its thread pool, on every request
    state: AppState = request.app.state.userq
    return state


State = Annotated[AppState, Depends(get_state)]
