"""The refusals (`producer_api/errors.py`) and the one handler that answers them
(`producer_api/exception_handlers.py`): no PostgreSQL, no Kafka, no process."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from producer_api.errors import (
    BatchTooLarge,
    Busy,
    Forbidden,
    HaltedByAnother,
    IdempotencyKeyReused,
    InvalidCredentials,
    InvalidPayload,
    NotFound,
    PausedByOperator,
    PayloadTooLarge,
    RateLimited,
    Refusal,
    TooManyAttempts,
    TooManyStreams,
    TryLater,
    Unauthorized,
    Unavailable,
    UnknownType,
    UsernameTaken,
    UserQueueFull,
    WeakPassword,
)
from producer_api.exception_handlers import install, render

# The codes clients rely on, with their statuses: a change here is a change of the contract.
CODES = {
    "unauthorized": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "not_found": 404,
    "username_taken": 409,
    "paused_by_operator": 409,
    "halted_by_another": 409,
    "busy": 409,
    "payload_too_large": 413,
    "batch_too_large": 413,
    "weak_password": 422,
    "unknown_type": 422,
    "invalid_payload": 422,
    "idempotency_key_reused": 422,
    "too_many_attempts": 429,
    "rate_limited": 429,
    "queue_full": 429,
    "too_many_streams": 429,
    "unavailable": 503,
}

EXAMPLES: list[Refusal] = [
    Unauthorized(),
    InvalidCredentials(),
    Forbidden(),
    NotFound("dead letter"),
    UsernameTaken(),
    PausedByOperator(),
    HaltedByAnother(uuid.UUID(int=7)),
    Busy(),
    PayloadTooLarge("payload is 70000 bytes; at most 65536"),
    BatchTooLarge(100),
    WeakPassword("the password must not contain the username"),
    UnknownType("demo.nope", ["demo.echo", "demo.sleep"]),
    InvalidPayload("invalid payload for demo.sleep: ms: Input should be a valid integer"),
    IdempotencyKeyReused(),
    TooManyAttempts(30),
    RateLimited(2.5, 10, 3),
    UserQueueFull(10000, 10000),
    TooManyStreams(),
    Unavailable("the queue is unavailable; nothing was changed"),
]


def refusals(cls: type[Refusal] = Refusal) -> list[type[Refusal]]:
    """Every concrete refusal class: the subclasses of `cls`, all the way down, but the `TryLater` base."""
    found = []
    for sub in cls.__subclasses__():
        found += [sub] if sub is not TryLater else []
        found += refusals(sub)
    return found


def test_every_refusal_has_a_code_of_its_own_and_an_error_status() -> None:
    classes = refusals()
    for refusal in classes:
        assert {"code", "status"} <= vars(refusal).keys(), f"{refusal.__name__} inherits its code or status"
        assert 400 <= refusal.status <= 599, refusal
        assert refusal.__doc__, f"{refusal.__name__}: the OpenAPI document describes it with its docstring"
    codes = [refusal.code for refusal in classes]
    assert len(codes) == len(set(codes)), "two refusals share a code"
    assert {refusal.code: refusal.status for refusal in classes} == CODES


def test_the_examples_cover_every_refusal() -> None:
    assert sorted(type(e).__name__ for e in EXAMPLES) == sorted(r.__name__ for r in refusals())


@pytest.mark.parametrize("refusal", EXAMPLES, ids=lambda r: r.code)
def test_a_refusal_renders_its_status_code_message_and_retry_after(refusal: Refusal) -> None:
    response = render(refusal)
    assert response.status_code == refusal.status
    assert json.loads(bytes(response.body)) == {"error": {"code": refusal.code, "message": refusal.message}}
    assert response.headers.get("Retry-After") == (str(refusal.retry_after) if isinstance(refusal, TryLater) else None)


def test_retry_after_is_the_refusals_own() -> None:
    assert render(RateLimited(2.5, 10, 3)).headers["Retry-After"] == "3"
    assert render(TooManyAttempts(30)).headers["Retry-After"] == "30"
    assert render(Busy()).headers["Retry-After"] == "1"
    assert render(Unauthorized()).headers["WWW-Authenticate"] == "Bearer"


def test_the_group_commits_refusal_copies_whole() -> None:
    """`GroupCommit` gives each caller of a failed group a copy of what the acceptance raised."""
    original = Unavailable("the queue is unavailable; the request was not accepted")
    copied = copy.copy(original)
    assert (type(copied), copied.message, copied.retry_after) == (Unavailable, original.message, 5)


def app() -> FastAPI:
    """A tiny app with the API's exception handlers: a route that raises any example, and one with a query."""
    app = FastAPI()
    install(app)
    by_code = {refusal.code: refusal for refusal in EXAMPLES}

    @app.get("/refuse/{code}")
    async def refuse(code: str) -> None:
        raise by_code[code]

    @app.get("/count")
    async def count(n: int) -> int:
        return n

    return app


def call(method: str, path: str, **options: Any) -> httpx.Response:
    async def request() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app()), base_url="http://api") as client:
            return await client.request(method, path, **options)

    return asyncio.run(request())


@pytest.mark.parametrize("refusal", EXAMPLES, ids=lambda r: r.code)
def test_a_route_that_raises_a_refusal_answers_with_its_body(refusal: Refusal) -> None:
    response = call("GET", f"/refuse/{refusal.code}")
    assert response.status_code == refusal.status
    assert response.json() == {"error": {"code": refusal.code, "message": refusal.message}}
    assert response.headers.get("Retry-After") == (None if refusal.retry_after is None else str(refusal.retry_after))
    assert response.headers.get("WWW-Authenticate") == refusal.headers.get("WWW-Authenticate")


def test_fastapis_own_errors_get_the_same_body() -> None:
    invalid = call("GET", "/count", params={"n": "many"})
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "invalid_request")
    assert invalid.json()["error"]["message"].startswith("query.n: ")
    missing = call("GET", "/nowhere")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = call("POST", "/count")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert wrong.headers["Allow"] == "GET"
