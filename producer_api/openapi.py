"""The OpenAPI document, made to say exactly what the API answers.

FastAPI documents each route's success response (and an error shape of its own for 422). `install`
adds what every operation can also answer, derived from the document itself, so that a route added
later is documented the same way without doing anything:

- it takes a body: 400 (not JSON), 413 (too large), 422 (not this schema);
- it takes parameters: 422; path parameters: 404 (no such object, or not the caller's);
- it needs a bearer token: 401; a role (the scopes of its security requirement): 403;
- it is under `/v1/` (PostgreSQL and Kafka behind it): 503 with `Retry-After`.

A route declares the other refusals its services give (`responses=refusals(Busy, PausedByOperator)`).
Both come from the refusal classes (`producer_api.errors`): an error response lists the codes it can
carry, one line each with the first line of the class's docstring, and has `Retry-After` when one of
them says when to try again. Every error response without a schema of its own gets `ErrorBody`, the one
error shape. The body of a new request is documented per registered request type, with that type's
payload schema, as the API validates it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from producer_api.errors import Forbidden, NotFound, PayloadTooLarge, Refusal, TryLater, Unauthorized, Unavailable
from producer_api.exception_handlers import ErrorBody
from producer_api.models import NewRequest, StreamEvent
from request_types.registry import Registry

REF = "#/components/schemas/{model}"

_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}}
}


def refusals(*classes: type[Refusal]) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route that refuses with `classes`: per status, a line for each code."""
    responses: dict[int | str, dict[str, Any]] = {}
    for refusal in classes:
        doc = (refusal.__doc__ or "").strip().splitlines()[0]
        addition: dict[str, Any] = {"description": f"- `{refusal.code}`: {doc}"}
        if issubclass(refusal, TryLater):
            addition["headers"] = _RETRY_AFTER
        _merge(responses.setdefault(refusal.status, {"description": ""}), addition)
    return responses


def _merge(response: dict[str, Any], addition: dict[str, Any]) -> None:
    """Add the lines and headers of `addition` to those of `response`, each line once."""
    lines = [*response["description"].splitlines(), *addition["description"].splitlines()]
    response["description"] = "\n".join(dict.fromkeys(lines))
    if "headers" in addition:
        response["headers"] = {**response.get("headers", {}), **addition["headers"]}


# what `implied_errors` finds: FastAPI's own errors (no refusal class stands for them) and refusals
_IMPLIED: dict[int | str, dict[str, Any]] = {
    400: {"description": "- `bad_request`: The body is not valid JSON."},
    422: {"description": "- `invalid_request`: The request does not match this schema."},
    **refusals(Unauthorized, Forbidden, NotFound, PayloadTooLarge, Unavailable),
}


def install(app: FastAPI, registry: Registry) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            _add(schemas, _component(ErrorBody))
            _add(schemas, _component(StreamEvent))  # referenced by the live stream's event schema
            _add(schemas, request_types(registry), replace=NewRequest.__name__)
            for path, operations in document["paths"].items():
                for operation in operations.values():
                    _document_errors(operation, implied_errors(path, operation))
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def implied_errors(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer because of what it takes and needs."""
    statuses = set()
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if parameters:
        statuses.add(422)
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    requirements = operation.get("security", [])
    if requirements:
        statuses.add(401)
    if any(roles for requirement in requirements for roles in requirement.values()):
        statuses.add(403)
    if path.startswith("/v1/"):
        statuses.add(503)
    return statuses


def request_types(registry: Registry) -> dict[str, Any]:
    """`NewRequest` as one variant per registered type: its name, and the schema of its payload."""
    variants: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    for name in registry.names():
        payload = registry.payload_schema(name, ref_template=REF)
        defs.update(payload.pop("$defs", {}))
        variants.append(
            {
                "title": name,
                "type": "object",
                "properties": {"type": {"const": name}, "payload": payload},
                # the API reads a missing payload as {}: required only where {} is not a valid payload
                "required": ["type", "payload"] if registry.payload_required(name) else ["type"],
                "additionalProperties": False,
            }
        )
    request = {"title": NewRequest.__name__, "description": "A request of one registered type.", "oneOf": variants}
    return {**defs, NewRequest.__name__: request}


def _document_errors(operation: dict[str, Any], implied: set[int]) -> None:
    responses: dict[str, Any] = operation["responses"]
    validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
    if validation == {"$ref": REF.format(model="HTTPValidationError")}:
        del responses["422"]  # FastAPI's own, in a shape the API never answers: `_IMPLIED` has ours
    for implied_status in implied:
        _merge(responses.setdefault(str(implied_status), {"description": ""}), _IMPLIED[implied_status])
    for status, response in responses.items():
        if not status.startswith(("4", "5")):
            continue
        content = response.setdefault("content", {}).setdefault("application/json", {})
        if not content.get("schema"):
            content["schema"] = {"$ref": REF.format(model=ErrorBody.__name__)}
    operation["responses"] = dict(sorted(responses.items()))


def _component(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    return {**schema.pop("$defs", {}), model.__name__: schema}


def _add(schemas: dict[str, Any], new: dict[str, Any], replace: str | None = None) -> None:
    for name, schema in new.items():
        if name != replace and schemas.get(name, schema) != schema:
            raise RuntimeError(f"two different schemas are named {name!r} in the OpenAPI document")
        schemas[name] = schema
