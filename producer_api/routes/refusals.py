"""How a service's refusal of an action reads over HTTP: one mapping for every route that acts on a queue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from producer_api.errors import ApiError, not_found, unavailable
from producer_api.producer import NotDelivered
from producer_api.services.admin import HaltedByAnother, NothingToDo
from producer_api.services.queues import NoSuchUser, PausedByOperator
from producer_api.services.wakeups import Busy


@contextmanager
def refusals(missing: str) -> Iterator[None]:
    """Turn the refusals of the action inside into API errors; `missing` names what a 404 did not find."""
    try:
        yield
    except (NothingToDo, NoSuchUser):
        raise not_found(missing) from None
    except Busy:
        raise ApiError(
            409, "busy", "the user has a retry in flight or requests running; try again once they settle"
        ) from None
    except HaltedByAnother as exc:
        raise ApiError(
            409,
            "halted_by_another",
            f"dead letter {exc.args[0]} halts this user; redrive or discard it first, or redrive all of the user's",
        ) from None
    except PausedByOperator:
        raise ApiError(409, "paused_by_operator", "an operator paused this queue; only one resumes it") from None
    except NotDelivered:
        raise unavailable("the queue is unavailable; nothing was changed") from None
