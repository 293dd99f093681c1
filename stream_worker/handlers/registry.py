"""The one registration point for request types and their handlers.

    from pydantic import BaseModel
    from stream_worker.handlers.registry import Context, handler

    class Greet(BaseModel):
        name: str

    @handler("greet", Greet)
    def greet(ctx: Context, payload: Greet) -> dict[str, object]:
        return {"hello": payload.name}

A handler runs inside the PostgreSQL transaction that records the request's outcome: whatever it writes
through `ctx.db` commits together with the request's terminal state, exactly once. A handler that only
waits on I/O (calls another service) and writes nothing through `ctx.db` may be registered with
`concurrent=True`: then the requests of distinct users in one batch wait side by side (up to
`MAX_CONCURRENCY_PER_WORKER`), each user's still one at a time, and its `ctx.db` refuses to be used. It returns a JSON
object (the result), raises `TransientError` (retried later) or raises anything else (dead-lettered).
The API accepts only registered types and validates payloads with the same model; list your module in
the `HANDLER_MODULES` setting so that both the API and the workers import it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast
from uuid import UUID

import psycopg
from pydantic import BaseModel, ValidationError

from stream_worker.errors import NoDatabase

JSONObject = dict[str, Any]
P = TypeVar("P", bound=BaseModel)
DeadLetterPolicy = Literal["continue", "halt"]


@dataclass(frozen=True)
class Context:
    request_id: UUID
    user_id: UUID
    attempt: int
    db: psycopg.Connection[Any]


class _NoDatabase:
    """`ctx.db` of a concurrent handler: other users' requests use the connection while it runs, so any
    use of it is refused (and dead-letters the request, with this error recorded)."""

    def __getattr__(self, name: str) -> Any:
        raise NoDatabase(f"ctx.db.{name}: a handler registered with concurrent=True has no database connection")


NO_DATABASE = cast(psycopg.Connection[Any], _NoDatabase())


@dataclass(frozen=True)
class RequestType(Generic[P]):
    name: str
    payload_model: type[P]
    run: Callable[[Context, P], JSONObject]
    max_attempts: int | None = None  # None: the worker's MAX_ATTEMPTS
    dead_letter_policy: DeadLetterPolicy | None = None  # None: the worker's DEAD_LETTER_POLICY
    concurrent: bool = False  # waits on I/O, never uses ctx.db: distinct users' requests run side by side

    def parse(self, payload: JSONObject) -> P:
        return self.payload_model.model_validate(payload)


class InvalidPayload(ValueError):
    pass


class UnknownType(LookupError):
    pass


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, RequestType[Any]] = {}

    def handler(
        self,
        name: str,
        payload: type[P],
        *,
        max_attempts: int | None = None,
        dead_letter_policy: DeadLetterPolicy | None = None,
        concurrent: bool = False,
    ) -> Callable[[Callable[[Context, P], JSONObject]], Callable[[Context, P], JSONObject]]:
        """Register `fn` for requests of type `name`, whose payload `payload` validates.

        `max_attempts` and `dead_letter_policy` override the worker's settings for this type:
        'continue' lets the user's queue move on after a dead letter, 'halt' holds the user's later
        requests until an operator redrives or discards it. `concurrent=True`: the handler only waits
        (I/O) and never uses `ctx.db`, so distinct users' requests of a batch may run side by side.
        """
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

        def register(fn: Callable[[Context, P], JSONObject]) -> Callable[[Context, P], JSONObject]:
            if name in self._types:
                raise ValueError(f"request type {name!r} is registered twice")
            self._types[name] = RequestType(name, payload, fn, max_attempts, dead_letter_policy, concurrent)
            return fn

        return register

    def get(self, name: str) -> RequestType[Any]:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownType(name) from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def validate(self, name: str, payload: JSONObject) -> None:
        """Raise `UnknownType` or `InvalidPayload` (with a readable message) when the API must refuse."""
        try:
            self.get(name).parse(payload)
        except ValidationError as exc:
            raise InvalidPayload(describe(exc)) from None

    def accepts(self, name: str, payload: JSONObject) -> bool:
        """Whether `payload` is valid for the registered type `name`."""
        try:
            self.validate(name, payload)
        except InvalidPayload:
            return False
        return True


def describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def load(modules: Iterable[str]) -> None:
    """Import the modules that register handlers (idempotent: Python imports a module once)."""
    for module in modules:
        importlib.import_module(module)


registry = Registry()
handler = registry.handler
