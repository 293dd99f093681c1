"""The API's ASGI middleware, in-process and without a server: the body limit and the trace ids."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import structlog
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from producer_api.middleware import BodyLimit, Tracing, current_trace_id, trace_id_of

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
LIMIT = 1024


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that reads the whole body and answers with its length and the trace id it runs under."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = orjson.dumps({"size": size, "trace_id": current_trace_id()})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def call(
    app: BodyLimit | Tracing, chunks: list[bytes], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request through `app`: its body in `chunks`; the status, headers and body of the answer."""
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/requests",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1} for n, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], answer, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize(
    ("traceparent", "given", "expected"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", None, TRACE),
        (f" 00-{TRACE.upper()}-00F067AA0BA902B7-01 ", None, TRACE),  # W3C: lower case hex; we forgive case
        (f"00-{TRACE}-00f067aa0ba902b7-01", "a" * 32, TRACE),  # traceparent wins over X-Trace-Id
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", "b" * 32, "b" * 32),  # the all-zero trace id is invalid
        ("not a traceparent", "C" * 32, "c" * 32),
        (None, f" {TRACE} ", TRACE),
    ],
)
def test_the_trace_id_is_the_traceparents_else_a_well_formed_x_trace_id(
    traceparent: str | None, given: str | None, expected: str
) -> None:
    assert trace_id_of(traceparent, given) == expected


@pytest.mark.parametrize("given", [None, "", "short", "g" * 32, TRACE + "0", "../" + TRACE[3:]])
def test_anything_else_gets_a_new_trace_id(given: str | None) -> None:
    first, second = trace_id_of(None, given), trace_id_of(None, given)
    assert first != second
    assert len(first) == 32 and set(first) <= set("0123456789abcdef")


def test_a_request_runs_under_its_trace_id_and_the_answer_says_it() -> None:
    status, headers, body = call(Tracing(echo_length), [b"{}"], {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    assert (status, headers["x-trace-id"]) == (200, TRACE)
    assert orjson.loads(body)["trace_id"] == TRACE  # what the app logs and enqueues carries it
    assert structlog.contextvars.get_contextvars().get("trace_id") is None, "unbound after the request"


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    status, _, body = call(BodyLimit(echo_length, LIMIT), [b"x" * 600, b"x" * 424], {"content-length": "1024"})
    assert (status, orjson.loads(body)["size"]) == (200, LIMIT)
    status, _, body = call(BodyLimit(echo_length, LIMIT), [b"x" * 1000, b"x" * 24])  # chunked: no length
    assert (status, orjson.loads(body)["size"]) == (200, LIMIT)


@pytest.mark.parametrize("declared", [str(LIMIT + 1), "1e9", "-1", "12 ", ""])
def test_a_declared_length_over_the_limit_or_not_a_number_is_413_before_the_app_reads(declared: str) -> None:
    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app was called")

    status, _, body = call(BodyLimit(never, LIMIT), [b"x" * 10], {"content-length": declared})
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"


def test_a_chunked_body_growing_past_the_limit_is_413_as_the_app_reads_it() -> None:
    with pytest.raises(HTTPException) as refused:
        call(BodyLimit(echo_length, LIMIT), [b"x" * 1000, b"x" * 1000, b"x" * 1000])
    assert refused.value.status_code == 413
    assert f"larger than {LIMIT} bytes" in refused.value.detail
