"""The FastAPI application: `create_app()` wires settings, PostgreSQL, Kafka, routes and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from anyio import to_thread
from confluent_kafka import KafkaException
from fastapi import FastAPI
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from producer_api import console, exception_handlers, metrics, openapi
from producer_api.janitor import Housekeeping, Janitor
from producer_api.metrics import Metrics
from producer_api.middleware import BodyLimit, Tracing
from producer_api.producer import AsyncProducer
from producer_api.routes import admin as admin_routes
from producer_api.routes import auth, feed, health, jwks, queue, requests, types
from producer_api.services.admin import AdminService
from producer_api.services.feed import EventHub, StreamLimits, Streams
from producer_api.services.limits import SubmitLimits, UserLimits
from producer_api.services.queues import QueueService
from producer_api.services.requests import PayloadLimits, RequestService
from producer_api.services.sessions import SessionRoles
from producer_api.services.throttle import LoginLimits, LoginThrottle
from producer_api.services.wakeups import Wakeups
from producer_api.settings import ApiSettings
from producer_api.state import AppState
from request_types.registry import load, registry
from runtime.kafka import ensure_topics, producer_config
from store.db import migrate, use_orjson

log = structlog.get_logger(__name__)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    load(settings.handler_modules)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await to_thread.run_sync(migrate, settings.database_url)
        try:
            await to_thread.run_sync(ensure_topics, settings, settings.produce_timeout_s)
        except KafkaException as exc:  # start anyway: /readyz says not ready, submits get 503 until it answers
            log.warning("kafka unreachable at start-up; topics not checked", error=str(exc))
        pool = AsyncConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_pool_timeout_s,
            open=False,
            configure=_configure,
            # a frozen API process (SIGSTOP, a VM stall) must not hold rows a worker waits for: PostgreSQL
            # ends its transaction after IDLE_IN_TRANSACTION_MS (no API transaction waits on anything but
            # PostgreSQL: acceptance and the queue actions wait for the broker before or after theirs)
            kwargs={"options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"},
        )
        await pool.open(wait=True)
        producer = AsyncProducer(api_producer_config(settings, "userq-api"))
        service = RequestService(
            pool,
            producer,
            registry,
            settings.requests_topic,
            PayloadLimits(settings.max_payload_bytes),
            kill_after_acks=settings.fault_kill_after_acks,
            stop_in_rows_tx=settings.fault_stop_in_rows_tx,
        )
        wakeups = Wakeups(pool, producer, settings.retry_topic)
        queues = QueueService(pool, wakeups, settings.results_topic)
        admin = AdminService(pool, wakeups)
        roles = SessionRoles(pool)
        hub = EventHub(settings.database_url, roles)
        streams = Streams(
            pool,
            roles,
            hub,
            StreamLimits(settings.stream_heartbeat_s, settings.max_streams_per_user, settings.stream_max_duration_s),
        )
        janitor = Janitor(
            pool,
            Housekeeping(settings.janitor_interval_s, settings.retention_days, 3 * settings.stream_heartbeat_s),
        )
        logins = LoginThrottle(
            pool,
            LoginLimits(settings.login_max_failures, settings.login_max_failures_per_address, settings.login_window_s),
        )
        limits = UserLimits(
            pool, SubmitLimits(settings.submit_rate_per_s, settings.submit_burst, settings.max_pending_per_user)
        )
        app.state.userq = AppState(settings, pool, producer, service, queues, streams, admin, logins, limits, roles)
        background = [asyncio.create_task(hub.run()), asyncio.create_task(janitor.run())]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await to_thread.run_sync(producer.close, settings.produce_timeout_s)
            await pool.close()

    app = FastAPI(
        title="userq", version="1", lifespan=lifespan, description="A per-user FIFO request queue on Apache Kafka."
    )
    exception_handlers.install(app)
    app.include_router(auth.router)
    app.include_router(jwks.router)
    app.include_router(requests.router)
    app.include_router(types.router)
    app.include_router(queue.router)
    app.include_router(feed.router)
    app.include_router(admin_routes.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    console.install(app)
    openapi.install(app, registry)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Metrics)
    app.add_middleware(Tracing)  # outermost: every line logged for a request carries its trace id
    return app


async def _configure(conn: AsyncConnection[Any]) -> None:
    use_orjson(conn)  # the payloads and results of JSON columns


# Between two statements of an API transaction the process waits only for PostgreSQL's answer and its own
# event loop (milliseconds; a few hundred under heavy load), never for the broker or a client: 2 s is far
# above that, and bounds how long a frozen API process makes a worker's tick wait on its uncommitted rows
# (the tick holds every lane of its partitions, so that is how long other users' requests wait).
IDLE_IN_TRANSACTION_MS = 2000


def api_producer_config(settings: ApiSettings, client_id: str) -> dict[str, Any]:
    """The accepting producer: durable (`runtime.kafka.producer_config`), bounded, with PRODUCE_TIMEOUT_S."""
    return producer_config(
        settings,
        client_id,
        **{
            "message.timeout.ms": int(settings.produce_timeout_s * 1000),
            "queue.buffering.max.messages": settings.producer_queue_max_messages,
            "queue.buffering.max.kbytes": settings.producer_queue_max_kbytes,
        },
    )
