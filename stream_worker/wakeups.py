"""The retry schedule in memory (pure): wake-ups read from the retry topic wait here until due.

Records of the retry topic are read as soon as they arrive and held here, each until its due time, so a
long backoff never delays another user's wake-up that is due sooner (no head-of-line blocking on the
retry partition). The schedule is a cache of the topic: the partition's committed offset stays at the
oldest wake-up not yet done (see `offsets.OffsetTracker`), so after a crash they are read again. Only
wake-ups due within WAKEUP_HORIZON_S come here: a later one would hold that commit point back for as long,
so its retry waits in PostgreSQL instead (`store.dormant`) and is woken again when it is near.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Generic, TypeVar

from stream_worker.offsets import Position, TopicPartitionKey

T = TypeVar("T")


class Schedule(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Position, T]] = []
        self._tiebreak = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, due: float, position: Position, item: T) -> None:
        heapq.heappush(self._heap, (due, next(self._tiebreak), position, item))

    def pop_due(self, now: float, limit: int) -> list[T]:
        """Up to `limit` items whose time has come, earliest first."""
        due: list[T] = []
        while self._heap and self._heap[0][0] <= now and len(due) < limit:
            due.append(heapq.heappop(self._heap)[3])
        return due

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def drop(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """Forget the wake-ups of partitions that went to another worker."""
        gone = set(partitions)
        kept = [entry for entry in self._heap if entry[2].key not in gone]
        if len(kept) != len(self._heap):
            heapq.heapify(kept)
            self._heap = kept
