"""Where handlers run: one event loop in a thread of its own, outside any PostgreSQL transaction.

The recording side (`stream_worker.processor`) hands out *chains*: requests of one user that run one
after another. A request starts only once the one before it came to an outcome that lets the user's
queue move on without the database (`moves_on`: a success without a database step, or a dead letter
under the 'continue' policy); any other outcome ends the chain, and what follows is decided when the
outcome is recorded. Each chain is one task on the loop, so thousands of users wait side by side while
each user runs one request at a time. `async def` handlers run on the loop, plain `def` ones in a bounded
thread pool. Every attempt has a deadline (its type's timeout, else `HANDLER_TIMEOUT_S`); past it the
attempt is a transient failure (`HandlerTimeout`) and its chain ends: the loop never waits for it.

The consumer's thread collects what finished (`take`) and records it; nothing here touches PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from pydantic import BaseModel, ValidationError

from request_types.errors import HandlerTimeout
from request_types.registry import (
    Context,
    DeadLetterPolicy,
    Registry,
    RequestType,
    dead_letter_policy,
    describe,
)
from stream_worker.outcomes import DeadLetter, Outcome, RetryPolicy, Succeeded, decide, recordable

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Attempt:
    """One run of a request's handler: which request, and which of its attempts this is."""

    request_id: UUID
    user_id: UUID
    type: str
    payload: dict[str, Any]
    attempt: int
    attempts_before_redrive: int  # attempts made before an operator's redrive (they do not count again)


@dataclass(frozen=True)
class Finished:
    """What an attempt came to. `started` and `ended` are `time.monotonic()` readings."""

    chain: int
    request_id: UUID
    attempt: int
    outcome: Outcome | None  # None: not run, its chain was stopped before it
    started: float
    ended: float
    payload: BaseModel | None  # parsed, for the type's database step
    last: bool  # its chain ends here


class Runner:
    def __init__(
        self,
        registry: Registry,
        retry: RetryPolicy,
        dead_letter: DeadLetterPolicy,
        timeout_s: float,
        threads: int,
        max_result_bytes: int,
        timed: Callable[[str, float], None] = lambda _type, _seconds: None,
    ) -> None:
        """`timed(type, seconds)` hears how long each handler call took (the worker's metrics)."""
        self._registry = registry
        self._timed = timed
        self._retry = retry
        self._dead_letter = dead_letter
        self._timeout_s = timeout_s
        self._max_result_bytes = max_result_bytes
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="handler")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="handlers", daemon=True)
        self._tasks: dict[int, asyncio.Task[None]] = {}  # only touched on the loop
        self._stopped: set[int] = set()  # chains to end before their next request; only touched on the loop
        self._done: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        self._thread.start()

    def submit(self, chains: Iterable[tuple[int, list[Attempt]]]) -> None:
        """Start these chains (id, attempts in order); their outcomes come out of `take`."""
        listed = list(chains)
        if listed:
            self._loop.call_soon_threadsafe(self._begin, listed)

    def take(self) -> list[Finished]:
        """Every outcome that finished since the last call, in the order they finished."""
        taken = []
        while True:
            try:
                taken.append(self._done.get_nowait())
            except queue.Empty:
                return taken

    def stop(self, chain_id: int) -> None:
        """Start no more requests of this chain (its next ones were cancelled or must wait): the request
        running now finishes, then a last `Finished` without an outcome ends the chain."""
        self._loop.call_soon_threadsafe(self._stopped.add, chain_id)

    def has_finished(self) -> bool:
        """Whether an outcome waits to be `take`n."""
        return not self._done.empty()

    def cancel_all(self) -> None:
        """Stop every chain (their partitions were given up); what still finishes is `take`n and ignored."""
        self._loop.call_soon_threadsafe(self._cancel_all)

    def close(self) -> None:
        """Cancel what still runs and stop the loop (plain handlers still in a thread are left to end)."""
        with contextlib.suppress(TimeoutError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def moves_on(self, request_type: RequestType[Any] | None, outcome: Outcome) -> bool:
        """Whether the user's next request may start right after `outcome`, before it is recorded."""
        if isinstance(outcome, Succeeded):
            return request_type is not None and request_type.record is None
        if isinstance(outcome, DeadLetter):
            return dead_letter_policy(request_type, self._dead_letter) == "continue"
        return False

    def _begin(self, chains: list[tuple[int, list[Attempt]]]) -> None:
        for chain_id, attempts in chains:
            task = self._loop.create_task(self._chain(chain_id, attempts))
            self._tasks[chain_id] = task
            task.add_done_callback(functools.partial(self._forget, chain_id))

    def _forget(self, chain_id: int, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(chain_id, None)
        self._stopped.discard(chain_id)

    def _cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    async def _chain(self, chain_id: int, attempts: list[Attempt]) -> None:
        for n, attempt in enumerate(attempts):
            if chain_id in self._stopped:
                self._done.put(Finished(chain_id, attempt.request_id, attempt.attempt, None, 0.0, 0.0, None, True))
                return
            request_type = self._registry.find(attempt.type)
            started = time.monotonic()
            outcome, payload = await self._attempt(attempt, request_type)
            ended = time.monotonic()
            last = n == len(attempts) - 1 or not self.moves_on(request_type, outcome)
            request_id = attempt.request_id
            self._done.put(Finished(chain_id, request_id, attempt.attempt, outcome, started, ended, payload, last))
            if last:
                return

    async def _attempt(
        self, attempt: Attempt, request_type: RequestType[Any] | None
    ) -> tuple[Outcome, BaseModel | None]:
        """Run the handler once; what became of it, and the parsed payload."""
        if request_type is None:
            return DeadLetter("invalid", {"kind": "invalid", "message": f"unknown type {attempt.type!r}"}), None
        try:
            payload = request_type.parse(attempt.payload)
        except ValidationError as exc:
            return DeadLetter("invalid", {"kind": "invalid", "message": f"invalid payload: {describe(exc)}"}), None
        if request_type.run is None:
            return Succeeded({}), payload  # all its work is the database step
        policy = self._retry.for_type(request_type.max_attempts)
        context = Context(attempt.request_id, attempt.user_id, attempt.attempt)
        timeout = request_type.timeout_s or self._timeout_s
        deadline = asyncio.timeout(timeout)
        begun = time.monotonic()
        try:
            try:
                async with deadline:
                    if request_type.is_async:
                        result = await request_type.run(context, payload)  # type: ignore[misc]
                    else:
                        result = await self._loop.run_in_executor(self._pool, request_type.run, context, payload)
            finally:
                self._timed(request_type.name, time.monotonic() - begun)
            result = recordable(result, self._max_result_bytes)
        except Exception as exc:  # a handler's failure, whatever it is, is an outcome
            failure = exc
            if isinstance(exc, TimeoutError) and deadline.expired():
                failure = HandlerTimeout(f"{request_type.name} ran past its timeout of {timeout:g} s")
            return decide(failure, attempt.attempt - attempt.attempts_before_redrive, policy), payload
        return Succeeded(result), payload
