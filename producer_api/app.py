"""The FastAPI application: `create_app()` wires settings, PostgreSQL, Kafka, routes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from producer_api import errors, metrics
from producer_api.metrics import Metrics
from producer_api.middleware import BodyLimit
from producer_api.producer import AsyncProducer
from producer_api.routes import admin as admin_routes
from producer_api.routes import auth, health, queue, requests
from producer_api.services.admin import AdminService
from producer_api.services.limits import SubmitLimits, UserLimits
from producer_api.services.requests import Limits, RequestService
from producer_api.services.throttle import Limits as ThrottleLimits
from producer_api.services.throttle import LoginThrottle
from producer_api.settings import ApiSettings
from producer_api.state import AppState
from stream_worker.handlers.registry import load, registry
from userq.db import migrate
from userq.kafka import ensure_topics, producer_config


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    load(settings.handler_modules)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await to_thread.run_sync(migrate, settings.database_url)
        await to_thread.run_sync(ensure_topics, settings)
        pool = AsyncConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_pool_timeout_s,
            open=False,
        )
        await pool.open(wait=True)
        producer = AsyncProducer(
            producer_config(settings, "userq-api", **{"message.timeout.ms": int(settings.produce_timeout_s * 1000)})
        )
        service = RequestService(pool, producer, registry, settings.requests_topic, Limits(settings.max_payload_bytes))
        admin = AdminService(pool, producer, settings.retry_topic)
        logins = LoginThrottle(
            pool,
            ThrottleLimits(
                settings.login_max_failures, settings.login_max_failures_per_address, settings.login_window_s
            ),
        )
        limits = UserLimits(
            pool, SubmitLimits(settings.submit_rate_per_s, settings.submit_burst, settings.max_pending_per_user)
        )
        app.state.userq = AppState(settings, pool, producer, service, admin, logins, limits)
        try:
            yield
        finally:
            await to_thread.run_sync(producer.close, settings.produce_timeout_s)
            await pool.close()

    app = FastAPI(
        title="userq", version="1", lifespan=lifespan, description="A per-user FIFO request queue on Apache Kafka."
    )
    errors.install(app)
    app.include_router(auth.router)
    app.include_router(requests.router)
    app.include_router(queue.router)
    app.include_router(admin_routes.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Metrics)
    return app
