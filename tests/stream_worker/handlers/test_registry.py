from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel

from stream_worker.errors import NoDatabase
from stream_worker.handlers.registry import NO_DATABASE, Context, InvalidPayload, JSONObject, Registry, UnknownType
from stream_worker.outcomes import DeadLetter, RetryPolicy, decide


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
    from stream_worker.handlers import builtin  # noqa: F401
    from stream_worker.handlers.registry import registry

    assert {"demo.echo", "demo.sleep", "demo.flaky", "demo.poison", "ledger.deposit", "ledger.withdraw"} <= set(
        registry.names()
    )
    with pytest.raises(InvalidPayload):
        registry.validate("ledger.deposit", {"amount": -5})
    with pytest.raises(InvalidPayload):
        registry.validate("ledger.deposit", {"amount": "5"})


def test_a_concurrent_handler_is_refused_the_database_and_dead_lettered() -> None:
    local = Registry()

    @local.handler("io.call", Payload, concurrent=True)
    def call(ctx: Context, payload: Payload) -> JSONObject:  # a handler that breaks the rule
        ctx.db.execute("insert into effects values (1)")
        return {}

    request_type = local.get("io.call")
    assert request_type.concurrent
    with pytest.raises(NoDatabase, match=r"ctx\.db\.execute: .*concurrent=True") as raised:
        request_type.run(Context(uuid.uuid4(), uuid.uuid4(), 1, NO_DATABASE), Payload(n=1))
    outcome = decide(raised.value, 1, RetryPolicy(5, 1.0, 60.0))
    assert isinstance(outcome, DeadLetter) and outcome.cause == "permanent"
