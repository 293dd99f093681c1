"""The one registration point for request types and their handlers.

A request runs in two steps, and a type has one or both:

- **the handler** (`@handler`): the request's work, outside any PostgreSQL transaction. It may wait as
  long as its type's timeout allows (call another service, sleep); `async def` handlers run side by side
  on the worker's event loop, plain `def` ones in a bounded thread pool. It returns a JSON object (the
  result), raises `TransientError` (retried later) or raises anything else (dead-lettered). It may run
  more than once for one request (after a crash, or a timeout): effects elsewhere need their own key.

      @handler("greet", Greet, timeout_s=5)
      async def greet(ctx: Context, payload: Greet) -> JSONObject:
          return {"hello": await directory.name_of(payload.user)}

- **the database step** (`record=` on `@handler`, or `@in_transaction` for a type that is nothing else):
  runs inside the short transaction that records the request's outcome, after the handler returned; what
  it writes through `ctx.db` commits together with the request's terminal state, exactly once, however
  often the handler ran. It must not wait on anything but PostgreSQL. It returns the final result.

      @in_transaction("ledger.deposit", Amount)
      def deposit(ctx: RecordContext, payload: Amount) -> JSONObject:
          ctx.db.execute("update ledger_accounts set balance = balance + %s where user_id = %s", ...)
          return {"ok": True}

The API accepts only registered types and validates payloads with the same model; list your module in
the `HANDLER_MODULES` setting so that both the API and the workers import it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:  # the SDK needs no database driver to be imported: only the worker passes a connection
    import psycopg

JSONObject = dict[str, Any]
P = TypeVar("P", bound=BaseModel)
DeadLetterPolicy = Literal["continue", "halt"]


@dataclass(frozen=True)
class Context:
    """What a handler knows of the request it runs."""

    request_id: UUID
    user_id: UUID
    attempt: int


@dataclass(frozen=True)
class RecordContext(Context):
    """What a database step knows: the request, and `db`, the transaction that records its outcome."""

    db: psycopg.Connection[Any]


Run = Callable[[Context, P], JSONObject | Awaitable[JSONObject]]
Record = Callable[[RecordContext, P, JSONObject], JSONObject]


@dataclass(frozen=True)
class RequestType(Generic[P]):
    name: str
    payload_model: type[P]
    run: Run[P] | None  # the handler; None: the type is only a database step
    record: Record[P] | None = None  # the database step, inside the recording transaction
    timeout_s: float | None = None  # None: the worker's HANDLER_TIMEOUT_S
    max_attempts: int | None = None  # None: the worker's MAX_ATTEMPTS
    dead_letter_policy: DeadLetterPolicy | None = None  # None: the worker's DEAD_LETTER_POLICY

    @property
    def is_async(self) -> bool:
        return self.run is not None and inspect.iscoroutinefunction(self.run)

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
        record: Record[P] | None = None,
        timeout_s: float | None = None,
        max_attempts: int | None = None,
        dead_letter_policy: DeadLetterPolicy | None = None,
    ) -> Callable[[Run[P]], Run[P]]:
        """Register the handler of requests of type `name`, whose payload `payload` validates.

        `record`: a database step run with the handler's result inside the recording transaction.
        `timeout_s`: an attempt running longer fails transiently (`HandlerTimeout`). `max_attempts` and
        `dead_letter_policy` override the worker's settings for this type: 'continue' lets the user's
        queue move on after a dead letter, 'halt' holds the user's later requests until an operator
        redrives or discards it.
        """

        def register(fn: Run[P]) -> Run[P]:
            self._add(RequestType(name, payload, fn, record, timeout_s, max_attempts, dead_letter_policy))
            return fn

        return register

    def in_transaction(
        self,
        name: str,
        payload: type[P],
        *,
        max_attempts: int | None = None,
        dead_letter_policy: DeadLetterPolicy | None = None,
    ) -> Callable[[Callable[[RecordContext, P], JSONObject]], Callable[[RecordContext, P], JSONObject]]:
        """Register a type whose whole work is a database step, `fn(ctx, payload)`, run inside the
        transaction that records the request's outcome."""

        def register(fn: Callable[[RecordContext, P], JSONObject]) -> Callable[[RecordContext, P], JSONObject]:
            def step(ctx: RecordContext, parsed: P, _result: JSONObject) -> JSONObject:
                return fn(ctx, parsed)

            self._add(RequestType(name, payload, None, step, None, max_attempts, dead_letter_policy))
            return fn

        return register

    def _add(self, request_type: RequestType[Any]) -> None:
        if request_type.name in self._types:
            raise ValueError(f"request type {request_type.name!r} is registered twice")
        if request_type.max_attempts is not None and request_type.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if request_type.timeout_s is not None and request_type.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._types[request_type.name] = request_type

    def get(self, name: str) -> RequestType[Any]:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownType(name) from None

    def find(self, name: str) -> RequestType[Any] | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def payload_schema(self, name: str, ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
        """The JSON Schema of the payload of type `name`, as `validate` applies it."""
        schema: dict[str, Any] = self.get(name).payload_model.model_json_schema(ref_template=ref_template)
        return schema

    def payload_required(self, name: str) -> bool:
        """Whether a request of type `name` needs a payload: a missing one is read as {}, which may be valid."""
        return not self.accepts(name, {})

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


def dead_letter_policy(request_type: RequestType[Any] | None, default: DeadLetterPolicy) -> DeadLetterPolicy:
    """What follows a dead letter of this type: its own policy, else the worker's `default`."""
    return (request_type and request_type.dead_letter_policy) or default


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
in_transaction = registry.in_transaction
