"""Key-level concurrency inside one batch: distinct users side by side, each user strictly in order.

A batch runs in one PostgreSQL transaction on one connection. Its records are split into lanes, one per
user, each run in order by a thread of a bounded pool (`MAX_CONCURRENCY_PER_WORKER`). Only one lane uses
the connection at a time: a lane holds the baton while it decides and writes, and lets go of it only
while it waits for a handler registered with `concurrent=True` (one that waits on I/O and never touches
`ctx.db`). So up to that many users' handlers wait at once, while one user's requests never overlap: they
are one lane. The transaction commits, and the offsets move, only once every lane has finished.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

import structlog

T = TypeVar("T")
log = structlog.get_logger(__name__)


class Lanes:
    def __init__(self, width: int) -> None:
        self._pool = ThreadPoolExecutor(width, thread_name_prefix="lane") if width > 1 else None
        self._baton = threading.Lock()
        self._local = threading.local()

    def run(
        self, items: Sequence[T], lane_of: Callable[[T], Hashable], step: Callable[[T], None], side_by_side: bool
    ) -> None:
        """`step` every item. Side by side (when asked, and wider than one): one lane per `lane_of`, each in
        the order of `items`; the first failure stops every lane at its next item and is raised. Else all
        items in their order, on this thread."""
        lanes: dict[Hashable, list[T]] = {}
        for item in items:
            lanes.setdefault(lane_of(item), []).append(item)
        if self._pool is None or not side_by_side or len(lanes) < 2:
            for item in items:
                step(item)
            return
        failures: list[BaseException] = []  # in the order they happened (each under the baton)
        stopping = threading.Event()

        def run_lane(lane: Sequence[T]) -> None:
            with self._baton:
                self._local.in_lane = True
                try:
                    for item in lane:
                        if stopping.is_set():
                            return
                        step(item)
                except BaseException as exc:
                    failures.append(exc)
                    stopping.set()
                finally:
                    self._local.in_lane = False

        futures = [self._pool.submit(contextvars.copy_context().run, run_lane, lane) for lane in lanes.values()]
        try:
            wait(futures)
        except BaseException:  # the caller's transaction must not end while a lane still uses it
            stopping.set()
            wait(futures)
            raise
        if failures:
            for later in failures[1:]:
                log.warning("another lane of the failed batch failed too", error=repr(later))
            raise failures[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a concurrent handler: other lanes use the connection meanwhile."""
        if not getattr(self._local, "in_lane", False):
            yield
            return
        self._baton.release()
        try:
            yield
        finally:
            self._baton.acquire()
