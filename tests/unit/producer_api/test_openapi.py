"""The OpenAPI document: every error an operation can give is documented, in the one error shape."""

from __future__ import annotations

from typing import Any

import pytest

from producer_api.app import create_app
from producer_api.errors import Busy, PausedByOperator, RateLimited
from producer_api.openapi import implied_errors, refusals
from request_types.registry import registry


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()  # no lifespan: nothing is connected


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_errors_follow_from_what_an_operation_takes_and_needs() -> None:
    body: dict[str, Any] = {"requestBody": {}, "security": [{"HTTPBearer": []}]}
    assert implied_errors("/v1/requests", body) == {400, 401, 413, 422, 503}
    admin: dict[str, Any] = {"parameters": [{"in": "path", "name": "id"}], "security": [{"HTTPBearer": ["admin"]}]}
    assert implied_errors("/v1/admin/x/{id}", admin) == {401, 403, 404, 422, 503}
    assert implied_errors("/healthz", {}) == set()


def test_every_error_response_is_the_uniform_error_body(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_user_routes_document_their_errors(document: dict[str, Any]) -> None:
    submit = document["paths"]["/v1/requests"]["post"]["responses"]
    assert {"202", "400", "401", "413", "422", "429", "503"} <= set(submit)
    assert "Retry-After" in submit["429"]["headers"]
    assert "Retry-After" in submit["503"]["headers"]
    assert {"401", "403", "404"} <= set(
        document["paths"]["/v1/admin/dead-letters/{request_id}/discard"]["post"]["responses"]
    )


def test_a_routes_refusals_are_documented_from_their_classes(document: dict[str, Any]) -> None:
    declared = refusals(Busy, PausedByOperator, RateLimited)
    assert set(declared) == {409, 429}
    assert declared[409]["description"] == (
        "- `busy`: A worker is running the user's requests, or a retry is in flight: try again shortly.\n"
        "- `paused_by_operator`: A user asked to resume a queue that an operator paused: only an operator resumes it."
    )
    assert "Retry-After" in declared[409]["headers"]  # busy says when to try again
    resume = document["paths"]["/v1/queue/resume"]["post"]["responses"]["409"]
    assert resume["description"] == declared[409]["description"]
    # declared and implied refusals of one status share its response, one line each
    invalid = document["paths"]["/v1/requests"]["post"]["responses"]["422"]["description"].splitlines()
    assert [line.split("`")[1] for line in invalid] == [
        "unknown_type",
        "invalid_payload",
        "idempotency_key_reused",
        "invalid_request",
    ]


def test_a_new_request_is_documented_per_registered_type(document: dict[str, Any]) -> None:
    variants = document["components"]["schemas"]["NewRequest"]["oneOf"]
    assert [v["properties"]["type"]["const"] for v in variants] == registry.names()
    deposit = next(v for v in variants if v["title"] == "ledger.deposit")
    assert deposit["required"] == ["type", "payload"]  # {} is no deposit
    assert deposit["properties"]["payload"]["properties"]["amount"]["type"] == "integer"
    echo = next(v for v in variants if v["title"] == "demo.echo")
    assert echo["required"] == ["type"]  # a missing payload is {}, a valid echo


def test_the_consoles_routes_are_documented_and_its_page_is_not_an_operation(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert "/" not in paths  # the console's page and files: not part of the JSON API
    assert not any(path.startswith("/console") for path in paths)
    statuses = {
        ("/v1/types", "get"): {"200", "401", "503"},
        ("/v1/admin/consumers", "get"): {"200", "401", "403", "503"},
        ("/v1/admin/queues/{user_id}/requests", "get"): {"200", "401", "403", "404", "422", "503"},
    }
    for (path, method), expected in statuses.items():
        assert set(paths[path][method]["responses"]) == expected, path
    types = paths["/v1/types"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert types == {"$ref": "#/components/schemas/RequestTypes"}
    waiting = document["components"]["schemas"]["WaitingRequest"]
    assert {"parked", "status", "sequence"} <= set(waiting["properties"])
