"""Offsets of a batch (pure): where to commit after it, and where to rewind when it must run again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int


def commit_points(positions: Iterable[Position]) -> dict[TopicPartitionKey, int]:
    """The offset to commit per partition once every record of the batch is done: the last one + 1.

    Raises when a partition's offsets are not increasing: a batch is read in partition order, and
    committing past a record that was not processed would lose it.
    """
    points: dict[TopicPartitionKey, int] = {}
    for p in positions:
        key = (p.topic, p.partition)
        if key in points and p.offset < points[key]:
            raise ValueError(f"offsets of {key} go backwards at {p.offset}")
        points[key] = p.offset + 1
    return points


def rewind_points(positions: Iterable[Position]) -> dict[TopicPartitionKey, int]:
    """The first offset per partition: where to seek so that an unfinished batch is read again."""
    points: dict[TopicPartitionKey, int] = {}
    for p in positions:
        points.setdefault((p.topic, p.partition), p.offset)
    return points
