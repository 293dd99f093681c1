"""Every refusal the API can give, one class each, under one root.

A `Refusal` is what a client gets instead of what it asked for: the contract's `code`, an HTTP `status`,
a message for people and, for a `TryLater`, the seconds after which the same call may succeed
(`Retry-After`). Services raise them and know no more of HTTP than the status number;
`producer_api.exception_handlers` turns any of them into the one error body, and `producer_api.openapi`
documents a route's refusals from these classes (the first line of each docstring).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import ClassVar


class ApiError(Exception):
    """The root of the exceptions of the API."""


class Refusal(ApiError):
    """An answer instead of the action: `code` (stable, the contract's), `status` and `message`."""

    code: ClassVar[str]
    status: ClassVar[int]
    headers: ClassVar[Mapping[str, str]] = {}  # sent with every answer of this refusal
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TryLater(Refusal):
    """A refusal that passes: the same call may succeed after `retry_after` seconds (`Retry-After`)."""

    retry_after: int

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(Refusal):
    """A missing, invalid or expired token, or a session that has ended."""

    code = "unauthorized"
    status = 401
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}

    def __init__(self) -> None:
        super().__init__("missing, invalid or expired credentials")  # the same whatever was wrong


class InvalidCredentials(Refusal):
    """A wrong username or password (the same answer for both)."""

    code = "invalid_credentials"
    status = 401

    def __init__(self) -> None:
        super().__init__("wrong username or password")


class Forbidden(Refusal):
    """The caller does not have the role this needs."""

    code = "forbidden"
    status = 403

    def __init__(self) -> None:
        super().__init__("this needs the admin role")


class NotFound(Refusal):
    """No such resource, or not the caller's."""

    code = "not_found"
    status = 404

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class UsernameTaken(Refusal):
    """Another user has this username."""

    code = "username_taken"
    status = 409

    def __init__(self) -> None:
        super().__init__("this username is taken")


class PausedByOperator(Refusal):
    """A user asked to resume a queue that an operator paused: only an operator resumes it."""

    code = "paused_by_operator"
    status = 409

    def __init__(self) -> None:
        super().__init__("an operator paused this queue; only one resumes it")


class HaltedByAnother(Refusal):
    """Another dead letter halts the user: redrive or discard that one first, or all of the user's."""

    code = "halted_by_another"
    status = 409

    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__(
            f"dead letter {request_id} halts this user; redrive or discard it first, or redrive all of the user's"
        )


class Busy(TryLater):
    """A worker is running the user's requests, or a retry is in flight: try again shortly."""

    code = "busy"
    status = 409

    def __init__(self) -> None:
        super().__init__("the user has a retry in flight or requests running; try again once they settle", 1)


class PayloadTooLarge(Refusal):
    """The body, or a request's payload, is larger than allowed."""

    code = "payload_too_large"
    status = 413


class BatchTooLarge(Refusal):
    """A batch has more requests than allowed."""

    code = "batch_too_large"
    status = 413

    def __init__(self, max_requests: int) -> None:
        super().__init__(f"at most {max_requests} requests a batch")


class WeakPassword(Refusal):
    """The password breaks a rule; the message says which."""

    code = "weak_password"
    status = 422


class UnknownType(Refusal):
    """No request type of this name is registered."""

    code = "unknown_type"
    status = 422

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown request type {name!r}; known: {', '.join(known)}")


class InvalidPayload(Refusal):
    """The payload does not match its type's schema, or cannot be stored."""

    code = "invalid_payload"
    status = 422


class IdempotencyKeyReused(Refusal):
    """This `Idempotency-Key` was used before with another body."""

    code = "idempotency_key_reused"
    status = 422

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with another body")


class TooManyAttempts(TryLater):
    """Too many failed logins for this account, or from this address, within the window."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after} s", retry_after)


class RateLimited(TryLater):
    """Over the user's submit rate."""

    code = "rate_limited"
    status = 429

    def __init__(self, rate_per_s: float, burst: int, retry_after: int) -> None:
        super().__init__(
            f"at most {rate_per_s:g} requests a second (burst {burst}); retry after {retry_after} s", retry_after
        )


class UserQueueFull(TryLater):
    """The user has as many requests not yet terminal as allowed."""

    code = "queue_full"
    status = 429

    def __init__(self, pending: int, max_pending: int) -> None:
        super().__init__(f"{pending} requests are pending; at most {max_pending}", 5)


class TooManyStreams(TryLater):
    """The user has as many live streams open as allowed."""

    code = "too_many_streams"
    status = 429

    def __init__(self) -> None:
        super().__init__("too many streams open for this user; close one", 5)


class Unavailable(TryLater):
    """PostgreSQL or Kafka is unavailable; nothing was changed."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, 5)
