from __future__ import annotations

import pytest
from pydantic import BaseModel

from stream_worker.handlers.registry import Context, InvalidPayload, JSONObject, Registry, UnknownType


class Greeting(BaseModel):
    name: str


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
