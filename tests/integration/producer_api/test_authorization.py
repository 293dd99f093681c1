"""Object- and function-level authorization against a real API process (PostgreSQL and Kafka, no worker).

Another user's objects are not found (404, the body of an unknown id); every route but the public ones
needs a token; every admin route needs the admin role (the routes are read from the app, so new ones are
covered without touching this file); no body can set a user, a role or a status.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi.routing import APIRoute

from harness.stack import PASSWORD, Stack
from producer_api.app import create_app
from producer_api.settings import ApiSettings

# Reachable without a token; anything else that the app serves needs one.
PUBLIC = {"/v1/auth/register", "/v1/auth/token", "/v1/auth/refresh", "/healthz", "/readyz", "/metrics"}
PUBLIC |= {"/.well-known/jwks.json", "/"}  # "/": the console's page (its files are mounted, not routes)


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every API route."""
    app = create_app(ApiSettings(env="test"))
    # FastAPI >= 0.16x keeps included routers whole in `app.routes`; older ones listed the routes flat
    contexts: Iterator[Any] = getattr(fastapi.routing, "iter_route_contexts", iter)(app.routes)
    return [
        (method, context.path)
        for context in contexts
        if isinstance(getattr(context, "original_route", context), APIRoute)
        for method in sorted(context.methods)
    ]


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)


ROUTES = _routes()
ADMIN_ROUTES = [(method, path) for method, path in ROUTES if path.startswith("/v1/admin")]
PRIVATE_ROUTES = [(method, path) for method, path in ROUTES if path not in PUBLIC]


def test_the_route_lists_are_not_empty() -> None:
    assert len(ADMIN_ROUTES) >= 4
    assert {("GET", "/v1/queue"), ("POST", "/v1/requests"), *ADMIN_ROUTES} <= set(PRIVATE_ROUTES)


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p in ADMIN_ROUTES])
def test_a_non_admin_gets_403_on_every_admin_route(
    method: str, path: str, module_api: str, module_stack: Stack
) -> None:
    user = module_stack.client(module_api)
    response = user.http.request(method, _concrete(path))
    assert response.status_code == 403, response.text
    assert response.json() == {"error": {"code": "forbidden", "message": "this needs the admin role"}}


@pytest.mark.parametrize(("method", "path"), PRIVATE_ROUTES, ids=[f"{m} {p}" for m, p in PRIVATE_ROUTES])
def test_every_route_but_the_public_ones_needs_a_token(method: str, path: str, module_api: str) -> None:
    response = httpx.request(method, f"{module_api}{_concrete(path)}")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"


def test_another_users_request_is_not_found(module_api: str, module_stack: Stack) -> None:
    alice, bob = module_stack.client(module_api), module_stack.client(module_api)
    request_id = alice.submit("demo.echo", {})["request_id"]
    theirs = bob.http.get(f"/v1/requests/{request_id}")
    unknown = bob.http.get(f"/v1/requests/{uuid.uuid4()}")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    assert alice.http.get(f"/v1/requests/{request_id}").status_code == 200


def test_another_users_requests_and_queue_are_not_listed(module_api: str, module_stack: Stack) -> None:
    alice, bob = module_stack.client(module_api), module_stack.client(module_api)
    for i in range(3):
        alice.submit("demo.echo", {"i": i})
    assert bob.http.get("/v1/requests").json() == {"requests": [], "next_cursor": None}
    assert bob.http.get("/v1/requests", params={"status": "queued"}).json()["requests"] == []
    assert [view["user_id"] for view in alice.http.get("/v1/requests").json()["requests"]] == [alice.user_id] * 3
    assert (bob.http.get("/v1/queue").json()["depth"], alice.http.get("/v1/queue").json()["depth"]) == (0, 3)


@pytest.mark.parametrize("field", ["user_id", "role", "status"])
def test_no_body_sets_a_user_a_role_or_a_status(field: str, module_api: str, module_stack: Stack) -> None:
    alice, bob = module_stack.client(module_api), module_stack.client(module_api)
    value = {"user_id": bob.user_id, "role": "admin", "status": "succeeded"}[field]
    credentials = {"username": f"n{uuid.uuid4().hex[:12]}", "password": PASSWORD}
    with httpx.Client(base_url=module_api) as anonymous:
        answers = [
            anonymous.post("/v1/auth/register", json={**credentials, field: value}),
            anonymous.post("/v1/auth/token", json={"username": alice.username, "password": PASSWORD, field: value}),
            anonymous.post("/v1/auth/refresh", json={"refresh_token": alice.refresh_token, field: value}),
        ]
    answers.append(alice.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}, field: value}))
    answers.append(
        alice.http.post("/v1/requests/batch", json={"requests": [{"type": "demo.echo", "payload": {}, field: value}]})
    )
    for answer in answers:
        assert answer.status_code == 422, answer.request.url
        assert answer.json()["error"]["code"] == "invalid_request"
        assert f"{field}: Extra inputs are not permitted" in answer.json()["error"]["message"]
    with module_stack.db() as conn:
        assert conn.execute(
            "select count(*) from users where username = %s", (credentials["username"],)
        ).fetchone() == (0,)
        assert conn.execute("select count(*) from requests where user_id = %s", (alice.user_id,)).fetchone() == (0,)
    # inside a payload it is just data, and the request is still the caller's
    view = alice.submit("demo.echo", {field: value})
    assert (view["user_id"], view["status"]) == (alice.user_id, "queued")
