"""Offsets (pure): what may be committed, and where to rewind a batch that must run again.

A partition's commit point is its lowest offset that was read and is not done yet, or, when everything
read is done, one past the last record read. So the committed offset never passes an unfinished record,
also when records finish out of order (wake-ups that wait for their due time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TopicPartitionKey = tuple[str, int]


def source(key: TopicPartitionKey) -> str:
    """A partition as a request's row names what drives its run (`requests.claimed_from`): 'topic:partition'."""
    topic, partition = key
    return f"{topic}:{partition}"


@dataclass(frozen=True, order=True)
class Position:
    topic: str
    partition: int
    offset: int

    @property
    def key(self) -> TopicPartitionKey:
        return (self.topic, self.partition)


class OffsetTracker:
    def __init__(self) -> None:
        self._open: dict[TopicPartitionKey, set[int]] = {}
        self._next: dict[TopicPartitionKey, int] = {}

    def read(self, position: Position) -> None:
        """A record was handed to us; it stays open until `done`."""
        self._open.setdefault(position.key, set()).add(position.offset)
        self._next[position.key] = max(self._next.get(position.key, 0), position.offset + 1)

    def done(self, position: Position) -> None:
        self._open.get(position.key, set()).discard(position.offset)

    def commit_points(self, partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        points = {}
        for key in partitions:
            if key in self._next:
                still_open = self._open.get(key)
                points[key] = min(still_open) if still_open else self._next[key]
        return points

    def forget(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """The partitions went to another worker, or will be read again from their committed offset."""
        for key in partitions:
            self._open.pop(key, None)
            self._next.pop(key, None)


def rewind_points(positions: Iterable[Position]) -> dict[TopicPartitionKey, int]:
    """The first offset per partition: where to seek so that an unfinished batch is read again."""
    points: dict[TopicPartitionKey, int] = {}
    for p in sorted(positions):
        points.setdefault(p.key, p.offset)
    return points
