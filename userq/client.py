"""A small, synchronous client of the userq HTTP API (v1), the library under the `userq` command.

    with Client("http://127.0.0.1:3000", FileTokens(path, url)) as client:
        client.login("alice", "correct horse battery")
        view = client.submit("demo.echo", {"hello": "world"})
        for event in client.stream():
            ...

Every error is a `UserqError` (see `userq.errors`): a refusal an `ApiError`, with the API's
`{"error": {"code", "message"}}`, the HTTP status and, on 429 and 503, `Retry-After`; no answer a
`TransportFailed`. Logins and token renewal are `userq.session`'s, token stores `userq.tokens`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, cast

import httpx

from userq.errors import (
    ApiError,
    CredentialsError,
    NotLoggedIn,
    TransportFailed,
    UnexpectedResponse,
    UserqError,
)
from userq.session import Session
from userq.stream import follow
from userq.tokens import FileTokens, MemoryTokens, Tokens, TokenStore
from userq.views import DeadLetterView, Event, NewRequest, Purged, QueueView, RequestView, StreamEvent, User

__all__ = [
    "BATCH_SIZE",
    "ApiError",
    "Client",
    "CredentialsError",
    "DeadLetterView",
    "Event",
    "FileTokens",
    "MemoryTokens",
    "NewRequest",
    "NotLoggedIn",
    "Purged",
    "QueueView",
    "RequestView",
    "StreamEvent",
    "TokenStore",
    "Tokens",
    "TransportFailed",
    "UnexpectedResponse",
    "User",
    "UserqError",
]

BATCH_SIZE = 100  # the API's default MAX_BATCH_REQUESTS; a smaller limit is found on its 413


class Client(Session):
    """The userq API for one user (whose tokens are in `tokens`): a `Session` with the API's calls."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenStore | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        batch_size: int = BATCH_SIZE,
        submit_retries: int = 3,
        max_retry_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, tokens, timeout=timeout, transport=transport)
        self.batch_size = batch_size
        self.submit_retries = submit_retries  # extra tries of a submission refused with 429/503 + Retry-After
        self.max_retry_wait_s = max_retry_wait_s  # a longer Retry-After is raised at once
        self._sleep = sleep

    # -- requests

    def submit(
        self, type_: str, payload: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> RequestView:
        """Submit one request; a 429 or 503 with a short Retry-After is waited out and tried again (a refusal
        means "not accepted", so trying again cannot run it twice)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = {"type": type_, "payload": dict(payload or {})}
        return cast(RequestView, self._retrying(lambda: self.json("POST", "/v1/requests", json=body, headers=headers)))

    def submit_batches(self, requests: Iterable[NewRequest]) -> Iterator[list[RequestView]]:
        """Submit `requests` in order, in batches of at most `batch_size`, yielding each batch's views as it is
        accepted (all of a batch or none). On an error, what was yielded before is accepted, nothing after."""
        chunk: list[NewRequest] = []
        for request in requests:
            chunk.append(request)
            if len(chunk) == self.batch_size:
                yield from self._submit_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._submit_chunk(chunk)

    def submit_batch(self, requests: Iterable[NewRequest]) -> list[RequestView]:
        return [view for batch in self.submit_batches(requests) for view in batch]

    def _submit_chunk(self, chunk: list[NewRequest]) -> Iterator[list[RequestView]]:
        body = {"requests": [{"type": r["type"], "payload": r.get("payload", {})} for r in chunk]}
        try:
            answer = self._retrying(lambda: self.json("POST", "/v1/requests/batch", json=body))
        except ApiError as exc:
            if exc.code != "batch_too_large" or len(chunk) == 1:
                raise
            half = len(chunk) // 2  # this API takes fewer at once: split, and remember it
            self.batch_size = min(self.batch_size, half)
            yield from self._submit_chunk(chunk[:half])
            yield from self._submit_chunk(chunk[half:])
            return
        yield cast(list[RequestView], answer["requests"])

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """`call()`; a 429 or 503 whose Retry-After is at most `max_retry_wait_s` is waited out, and the call
        made again, up to `submit_retries` times."""
        attempt = 0
        while True:
            try:
                return call()
            except ApiError as exc:
                wait = exc.retry_after
                if exc.status not in (429, 503) or wait is None or wait > self.max_retry_wait_s:
                    raise
                if attempt == self.submit_retries:
                    raise
            attempt += 1
            self._sleep(wait)

    def get(self, request_id: str) -> RequestView:
        return cast(RequestView, self.json("GET", f"/v1/requests/{request_id}"))

    def list_requests(self, status: str | None = None, page_size: int = 100) -> Iterator[RequestView]:
        """The caller's requests in queue order, page after page, as long as the caller reads."""
        return cast(Iterator[RequestView], self._pages("/v1/requests", "requests", limit=page_size, status=status))

    def _pages(self, path: str, field: str, **query: str | int | None) -> Iterator[Any]:
        """The items of every page of a cursor-paginated list, fetched as the caller reads."""
        params = {name: value for name, value in query.items() if value is not None}
        while True:
            page = self.json("GET", path, params=params)
            yield from page[field]
            if page["next_cursor"] is None:
                return
            params["cursor"] = page["next_cursor"]

    # -- the caller's queue

    def queue(self) -> QueueView:
        return cast(QueueView, self.json("GET", "/v1/queue"))

    def pause(self) -> QueueView:
        return cast(QueueView, self.json("POST", "/v1/queue/pause"))

    def resume(self) -> QueueView:
        return cast(QueueView, self.json("POST", "/v1/queue/resume"))

    def purge(self) -> Purged:
        return cast(Purged, self.json("POST", "/v1/queue/purge"))

    # -- the live stream

    def stream(
        self, last_event_id: int | None = None, *, read_timeout: float = 60.0, max_failures: int = 10
    ) -> Generator[Event, None, None]:
        """The caller's state changes, in order, for as long as the caller reads, reconnecting with
        `Last-Event-ID` (see `userq.stream.follow`). `read_timeout` must exceed the API's heartbeat interval."""
        return follow(self, last_event_id, read_timeout=read_timeout, max_failures=max_failures, sleep=self._sleep)

    # -- admin (role `admin`)

    def dead_letters(
        self, user_id: str | None = None, type_: str | None = None, page_size: int = 100
    ) -> Iterator[DeadLetterView]:
        pages = self._pages("/v1/admin/dead-letters", "dead_letters", limit=page_size, user_id=user_id, type=type_)
        return cast(Iterator[DeadLetterView], pages)

    def redrive(self, request_id: str) -> RequestView:
        """Send a dead letter back into its user's order (the user's later requests wait behind it)."""
        return cast(RequestView, self.json("POST", f"/v1/admin/dead-letters/{request_id}/redrive"))

    def redrive_user(self, user_id: str) -> list[RequestView]:
        """Redrive all of a user's dead letters, in their order."""
        return cast(list[RequestView], self.json("POST", f"/v1/admin/users/{user_id}/dead-letters/redrive")["requests"])

    def discard(self, request_id: str) -> RequestView:
        return cast(RequestView, self.json("POST", f"/v1/admin/dead-letters/{request_id}/discard"))
