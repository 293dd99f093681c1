"""Group commit: concurrent callers' items committed together, each caller still answered on its own.

While a group is being committed, the items that arrive wait and form the next group. So an idle server
commits each submission at once, and a busy one commits many per transaction: the round trips of a
transaction are paid once per group, not once per request. A group fails as a whole (every caller in it
gets the exception); a caller's items are never split across groups.

Bounded: at most `max_waiting` items wait for a group (more are refused at once with `Full`, so a broker
that is away costs memory that stays flat), and a caller that goes away before its group starts takes
its items with it: nothing is committed for a caller that has already been answered otherwise.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Full(Exception):
    """As many items as may wait for a group are waiting already."""


class GroupCommit(Generic[T, R]):
    def __init__(
        self, commit: Callable[[list[T]], Awaitable[list[R]]], max_items: int, in_flight: int, max_waiting: int
    ) -> None:
        """`commit(items)` returns one result per item, in order. At most `in_flight` groups are committed
        at once, each of at most `max_items` items (or one caller's, when a caller brings more); at most
        `max_waiting` items wait for them."""
        self._commit = commit
        self._max_items = max_items
        self._in_flight = in_flight
        self._max_waiting = max_waiting
        self._waiting: deque[tuple[Sequence[T], asyncio.Future[list[R]]]] = deque()
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, items: Sequence[T]) -> list[R]:
        """Commit `items` with whatever else is waiting; their results once the group has committed.
        `Full` at once when too many items wait already."""
        if self._waiting and sum(len(waiting) for waiting, _ in self._waiting) + len(items) > self._max_waiting:
            raise Full()
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        entry = (items, future)
        self._waiting.append(entry)
        self._start()
        try:
            return await future
        except asyncio.CancelledError:
            if entry in self._waiting:  # its group has not started: it leaves no trace
                self._waiting.remove(entry)
            raise

    def _start(self) -> None:
        while self._waiting and len(self._running) < self._in_flight:
            group = [self._waiting.popleft()]
            size = len(group[0][0])
            while self._waiting and size + len(self._waiting[0][0]) <= self._max_items:
                size += len(self._waiting[0][0])
                group.append(self._waiting.popleft())
            task = asyncio.ensure_future(self._run_group(group))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start()

    async def _run_group(self, group: list[tuple[Sequence[T], asyncio.Future[list[R]]]]) -> None:
        try:
            results = await self._commit([item for items, _ in group for item in items])
        except asyncio.CancelledError:
            for _, future in group:
                future.cancel()
            raise
        except Exception as exc:  # every caller of the group learns of it, each from an exception of its own
            for _, future in group:
                if not future.done():
                    future.set_exception(_own(exc))
        else:
            start = 0
            for items, future in group:
                if not future.done():  # its caller may have gone away meanwhile
                    future.set_result(results[start : start + len(items)])
                start += len(items)


def _own(exc: Exception) -> Exception:
    """A copy of `exc` for one caller, without its traceback and chain: those hold the frames of the
    group's commit, and with them every item of the group, for as long as any caller keeps its error."""
    try:
        return copy.copy(exc)  # the type, arguments and attributes; not __traceback__, __cause__, __context__
    except Exception:  # one that cannot be copied is shared after all
        return exc
