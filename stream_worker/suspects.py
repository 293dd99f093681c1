"""Which claimed chains start now: a *suspect* runs alone (pure, no I/O).

A request found `processing` when a tick claims it ran before and came to nothing recorded: its worker
died (or gave its partition up) while it ran, maybe because of it. It runs again as a suspect: alone in
its chain, and alone in the worker, once every other chain has ended and before any other starts, and
only after the worker wrote its crash counter (`requests.claims`, see migration 0012). So a worker that
dies now was taken down by that request, and the counter says so to the next owner, which dead-letters
the request (`crashed_worker`) instead of running it a MAX_RECORD_CRASHES-th time. Requests that merely
shared a crash with it run alone once, finish, and are cleared. A run its worker gives up (a rebalance, a
stop past its grace) is released (`store.requests.release`): not a crash, it runs again as usual.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

C = TypeVar("C")  # what a chain is to the caller (its id and attempts)


class Gate(Generic[C]):
    def __init__(self) -> None:
        self._held: list[tuple[int, C]] = []  # ordinary chains waiting for the suspects to be done
        self._suspects: deque[tuple[int, C]] = deque()
        self._started: set[int] = set()  # chains started and not ended
        self._alone: int | None = None  # the suspect running now

    def add(self, chain_id: int, chain: C, suspect: bool) -> None:
        (self._suspects.append if suspect else self._held.append)((chain_id, chain))

    def ended(self, chain_id: int) -> None:
        """A chain's last outcome came (or it was given up)."""
        self._started.discard(chain_id)
        if self._alone == chain_id:
            self._alone = None

    def next(self) -> tuple[list[tuple[int, C]], tuple[int, C] | None]:
        """The ordinary chains to start now, or the suspect to start now (alone: after its counter is
        written; `started` when it is). Ordinary chains wait while a suspect waits or runs."""
        if self._alone is not None:
            return [], None
        if self._suspects:
            return [], (self._suspects[0] if not self._started else None)
        ready, self._held = self._held, []
        self._started.update(chain_id for chain_id, _ in ready)
        return ready, None

    def started(self, chain_id: int) -> None:
        """The suspect `next` gave has its counter written and runs now."""
        assert self._suspects and self._suspects[0][0] == chain_id
        self._suspects.popleft()
        self._started.add(chain_id)
        self._alone = chain_id

    def running(self) -> set[int]:
        """The ordinary chains started and not ended: what the worker may release when it gives them up. Not
        the suspect running alone: a suspect given up stays one (it keeps the evidence of its crash, and
        runs alone again)."""
        return self._started - {self._alone}

    def clear(self) -> None:
        """Everything given up (the partitions are read again): nothing waits, nothing runs."""
        self._held.clear()
        self._suspects.clear()
        self._started.clear()
        self._alone = None
