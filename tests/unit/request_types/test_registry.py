from __future__ import annotations

import uuid
from typing import Any, cast

import psycopg
import pytest
from pydantic import BaseModel

from request_types.registry import (
    Context,
    InvalidPayload,
    JSONObject,
    RecordContext,
    Registry,
    UnknownType,
)


class Greeting(BaseModel):
    name: str


class Payload(BaseModel):
    n: int


def _registry() -> Registry:
    registry = Registry()

    @registry.handler("greet", Greeting)
    def greet(ctx: Context, payload: Greeting) -> JSONObject:
        return {"hello": payload.name}

    return registry


def test_a_registered_type_validates_its_payload() -> None:
    registry = _registry()
    registry.validate("greet", {"name": "ada"})
    with pytest.raises(InvalidPayload, match="name"):
        registry.validate("greet", {"nom": "ada"})


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(UnknownType):
        _registry().validate("nope", {})


def test_a_type_cannot_be_registered_twice() -> None:
    registry = _registry()
    with pytest.raises(ValueError, match="twice"):
        registry.handler("greet", Greeting)(lambda ctx, p: {})


def test_the_builtins_are_registered() -> None:
    from request_types import builtin  # noqa: F401
    from request_types.registry import registry

    assert {"demo.echo", "demo.sleep", "demo.flaky", "demo.poison", "ledger.deposit", "ledger.withdraw"} <= set(
        registry.names()
    )
    with pytest.raises(InvalidPayload):
        registry.validate("ledger.deposit", {"amount": -5})
    with pytest.raises(InvalidPayload):
        registry.validate("ledger.deposit", {"amount": "5"})


def test_a_database_step_only_type_has_no_handler_and_records_with_its_step() -> None:
    local = Registry()
    seen: list[tuple[int, int]] = []

    @local.in_transaction("ledger.note", Payload)
    def note(ctx: RecordContext, payload: Payload) -> JSONObject:
        seen.append((ctx.attempt, payload.n))
        return {"noted": payload.n}

    request_type = local.get("ledger.note")
    assert request_type.run is None and request_type.record is not None
    context = RecordContext(uuid.uuid4(), uuid.uuid4(), 2, cast(psycopg.Connection[Any], None))
    assert request_type.record(context, Payload(n=7), {}) == {"noted": 7}
    assert seen == [(2, 7)]


def test_handlers_may_be_async_and_carry_their_own_timeout() -> None:
    local = Registry()

    @local.handler("io.call", Payload, timeout_s=2.5)
    async def call(ctx: Context, payload: Payload) -> JSONObject:
        return {}

    assert local.get("io.call").is_async and local.get("io.call").timeout_s == 2.5
    assert not _registry().get("greet").is_async
    with pytest.raises(ValueError, match="timeout_s"):
        local.handler("io.never", Payload, timeout_s=0)(call)
