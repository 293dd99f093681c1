"""The edge: every failure becomes one error body, `{"error": {"code", "message"}}`, never a stack trace.

A `Refusal` is answered as it says (status, code, message, `Retry-After`). FastAPI's own errors (a body
that is not JSON or not this schema, no such route or method, a body over the limit), a database that
does not answer and anything unexpected get the same body, here too.
"""

from __future__ import annotations

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from producer_api import metrics
from producer_api.errors import NotFound, PayloadTooLarge, Refusal, Unauthorized, Unavailable

log = structlog.get_logger(__name__)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: `not_found`, `rate_limited`, `invalid_request`, …")
    message: str = Field(description="for people; never a stack trace")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def render(refusal: Refusal) -> JSONResponse:
    """The answer to a refusal: its status, code and message, and the headers it carries."""
    headers = dict(refusal.headers)
    if refusal.retry_after is not None:
        headers["Retry-After"] = str(refusal.retry_after)
    return _respond(refusal.status, refusal.code, refusal.message, headers)


def _respond(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    metrics.refused(status, code)
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


# Starlette's HTTPException (no such route or method, a body that is not JSON or over the limit)
_HTTP_CODES = {
    400: "bad_request",
    405: "method_not_allowed",
    **{refusal.status: refusal.code for refusal in (Unauthorized, NotFound, PayloadTooLarge)},
}


def allowed_methods(request: Request) -> list[str]:
    """The methods that some route answers at the request's path."""
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def refused(_request: Request, exc: Refusal) -> JSONResponse:
        return render(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error["loc"] if p != "body") or "body"
            parts.append(f"{where}: {error['msg']}")
        return _respond(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the methods of the first route of the path only
            headers["Allow"] = ", ".join(allowed_methods(request))
        return _respond(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(_request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("database unavailable", error=str(exc))
        return render(Unavailable("the database is unavailable"))

    @app.exception_handler(PoolTimeout)
    async def pool_timeout(_request: Request, _exc: PoolTimeout) -> JSONResponse:
        return render(Unavailable("the database is busy or unreachable"))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _respond(500, "internal", "internal error")
