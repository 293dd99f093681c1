"""Plain ASGI middleware: a hard limit on request body size (413 before the app reads past it), and the
trace id of every request (bound to its log lines, echoed in `X-Trace-Id`, carried to Kafka)."""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer_api.errors import PayloadTooLarge
from producer_api.exception_handlers import render


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = render(PayloadTooLarge(self._message))
            await response(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # a chunked body that grew past the limit
                # an HTTPException: FastAPI answers anything else raised while it reads a body with 400
                raise HTTPException(413, self._message)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def _message(self) -> str:
        return f"the body is larger than {self.max_bytes} bytes"


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def trace_id_of(traceparent: str | None, given: str | None) -> str:
    """The W3C `traceparent`'s trace id, else a well-formed `X-Trace-Id`, else a new one."""
    if traceparent and (match := _TRACEPARENT.match(traceparent.strip().lower())) and set(match[1]) != {"0"}:
        return match[1]
    if given and _TRACE_ID.match(given.strip().lower()):
        return given.strip().lower()
    return uuid.uuid4().hex


class Tracing:
    """Give each HTTP request a trace id: in its log lines (structlog context), in `X-Trace-Id` of the
    response, and in the Kafka headers of what it enqueues (read back with `current_trace_id`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        trace_id = trace_id_of(
            headers.get(b"traceparent", b"").decode("latin-1"), headers.get(b"x-trace-id", b"").decode("latin-1")
        )

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-trace-id", trace_id.encode())]
            await send(message)

        structlog.contextvars.clear_contextvars()  # nothing of another request's
        with structlog.contextvars.bound_contextvars(trace_id=trace_id):
            await self.app(scope, receive, send_with_trace)


def current_trace_id() -> str:
    """The trace id of the HTTP request being served (a new one outside of one)."""
    trace_id = structlog.contextvars.get_contextvars().get("trace_id")
    return trace_id if isinstance(trace_id, str) else uuid.uuid4().hex
