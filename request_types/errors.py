"""What a handler may raise. Anything else a handler raises counts as permanent."""

from __future__ import annotations


class HandlerError(Exception):
    """Base of the errors a handler raises on purpose."""


class TransientError(HandlerError):
    """Worth another attempt later; `delay` (seconds) overrides the computed backoff when given."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(HandlerError):
    """Will fail the same way every time: the request is dead-lettered at once."""


class HandlerTimeout(TransientError):
    """The attempt ran past its type's timeout; it is retried like any transient failure."""


class Unrecordable(PermanentError):
    """A result that PostgreSQL or Kafka cannot carry as it is (a NUL character, too large)."""
