"""Prometheus metrics of the API, as a plain ASGI middleware and the `/metrics` route.

Labels are bounded: the route template (never the raw path, never a user), the method, the status, the
error code of a refusal. Buckets are for what we see: tens of milliseconds for an accepted request (a
broker's acknowledgement and a short PostgreSQL transaction), up to the produce timeout when the broker is away.

Several uvicorn worker processes (`API_WORKERS`) share one port, and a scrape reaches any one of them:
each process then writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's
multiprocess mode, chosen by that variable before the client is imported) and `/metrics` adds up the
files of all of them.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A broker acknowledgement (acks=all) takes a few milliseconds; a broker away, up to PRODUCE_TIMEOUT_S.
PRODUCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

if _multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)  # a metric without labels writes its file at once

REQUESTS = Counter("userq_api_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("userq_api_request_seconds", "HTTP request latency", ["method", "route"], buckets=LATENCY_BUCKETS)
IN_FLIGHT = Gauge(
    "userq_api_requests_in_flight",
    "HTTP requests being answered now; kind 'stream' counts open live streams (GET /v1/stream)",
    ["kind"],
    multiprocess_mode="livesum",
)
PRODUCE_SECONDS = Histogram(
    "userq_api_produce_seconds",
    "From producing a record to the broker's acknowledgement (or its failure)",
    ["outcome"],
    buckets=PRODUCE_BUCKETS,
)
UNWRITTEN_ROWS = Gauge(
    "userq_api_unwritten_rows",
    "Accepted requests whose rows this process could not write yet (PostgreSQL away); written when it is back",
    multiprocess_mode="livesum",
)
REFUSALS = Counter(
    "userq_api_refusals_total", "Requests refused with 429 or 503, by status and error code", ["status", "code"]
)

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics() -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    """This process's metrics, or, in multiprocess mode, the sum over every process of the API."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return generate_latest(REGISTRY)
    forget_dead_processes(Path(path))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


_LIVE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def forget_dead_processes(path: Path) -> None:
    """Drop the in-flight values of worker processes that are gone (killed, then restarted by uvicorn):
    their counters still count, but what they had in flight is no longer."""
    for file in path.glob("gauge_live*.db"):
        match = _LIVE_FILE.match(file.name)
        if match and not _alive(int(match[1])):
            multiprocess.mark_process_dead(int(match[1]), str(path))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def refused(status: int, code: str) -> None:
    """Count a 429 or a 503 the API answered (other statuses are in `userq_api_requests_total`)."""
    if status in (429, 503):
        REFUSALS.labels(str(status), code).inc()


def produced(outcome: str, started: float) -> None:
    """One produce, `started` at this `time.perf_counter()`: 'delivered', 'failed' or 'queue_full'."""
    PRODUCE_SECONDS.labels(outcome).observe(time.perf_counter() - started)


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

        in_flight = IN_FLIGHT.labels("stream" if scope["path"] == "/v1/stream" else "request")
        in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            in_flight.dec()
            route = _route(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    """The template of the route that answered (the router leaves it in the scope), never the raw path."""
    route = scope.get("route")
    return str(getattr(route, "path_format", "unmatched"))  # `{id}`, not `{id:uuid}`
