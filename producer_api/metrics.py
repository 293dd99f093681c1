"""Prometheus metrics of the API, as a plain ASGI middleware and the `/metrics` route.

Labels are bounded: the route template (never the raw path, never a user), the method and the status.
Buckets are for what we see: tens of milliseconds for an accepted request (a PostgreSQL transaction
around a Kafka round trip), up to the produce timeout when the broker is away.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("userq_api_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("userq_api_request_seconds", "HTTP request latency", ["method", "route"], buckets=LATENCY_BUCKETS)

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _route(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    """The template of the route that answered (the router leaves it in the scope), never the raw path."""
    route = scope.get("route")
    return str(getattr(route, "path_format", "unmatched"))  # `{id}`, not `{id:uuid}`
