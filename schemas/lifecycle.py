"""The life of a request: its states and the transitions between them (pure, no I/O)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCEEDED, Status.DEAD_LETTERED, Status.CANCELLED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.PROCESSING, Status.CANCELLED, Status.DEAD_LETTERED}),
    Status.PROCESSING: frozenset({Status.SUCCEEDED, Status.RETRYING, Status.DEAD_LETTERED}),
    Status.RETRYING: frozenset({Status.PROCESSING, Status.DEAD_LETTERED}),
    Status.SUCCEEDED: frozenset(),
    # only by an operator's redrive: the first redriven request retries, the others queue behind it
    Status.DEAD_LETTERED: frozenset({Status.RETRYING, Status.QUEUED}),
    Status.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, current: Status, new: Status) -> None:
        super().__init__(f"a request cannot go from {current} to {new}")
        self.current = current
        self.new = new


def transition(current: Status, new: Status) -> Status:
    """Return `new` when a request in `current` may move there; raise `IllegalTransition` otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(current, new)
    return new
