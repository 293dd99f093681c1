"""A small, synchronous client of the userq HTTP API (v1), the library under the `userq` command.

    with Client("http://127.0.0.1:3000", FileTokens(path, url)) as client:
        client.login("alice", "correct horse battery")
        view = client.submit("demo.echo", {"hello": "world"})
        for event in client.stream():
            ...

Every refusal raises `ApiError`, which carries the API's `{"error": {"code", "message"}}`, the HTTP status
and, on 429 and 503, `Retry-After`. An expired access token is renewed with the refresh token once and the
call sent again. Transport failures (nothing answered) are `httpx.TransportError`s, as httpx raises them.

Only the CLI and applications import this module: the server packages do not need httpx.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict, cast

import httpx

USER_AGENT = "userq-client/1"
BATCH_SIZE = 100  # the API's default MAX_BATCH_REQUESTS; a smaller limit is found on its 413


class ApiError(Exception):
    """The API refused a call: `status` (HTTP), `code` and `message` as its error body says."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, from Retry-After on 429 and 503


# ---- what the API answers (see /openapi.json); timestamps stay ISO 8601 strings


class NewRequest(TypedDict):
    type: str
    payload: NotRequired[dict[str, Any]]


class User(TypedDict):
    user_id: str
    username: str


class RequestView(TypedDict):
    request_id: str
    user_id: str
    type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    accepted_at: str
    started_at: str | None
    completed_at: str | None
    sequence: int
    processed_seq: int | None


class DeadLetterView(RequestView):
    first_failed_at: str | None
    last_failed_at: str | None


class QueueView(TypedDict):
    depth: int
    retrying: int
    oldest_queued_at: str | None
    paused: bool
    paused_by: str | None
    hold: str | None
    state: str


class Purged(TypedDict):
    cancelled: list[str]
    queue: QueueView


class StreamEvent(TypedDict):
    seq: int
    request_id: str
    type: str
    status: str
    attempt: int
    at: str
    error: dict[str, Any] | None
    sequence: int | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of the live stream."""

    id: int | None
    event: str
    data: StreamEvent


# ---- where the tokens live


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    username: str | None = None


class TokenStore(Protocol):
    """Keeps one login's tokens. `lock` serialises refreshes: a refresh token works once, and presenting a
    used one ends the session, so two holders of the same tokens must not both refresh."""

    def load(self) -> Tokens | None: ...
    def save(self, tokens: Tokens) -> None: ...
    def clear(self) -> None: ...
    def lock(self) -> contextlib.AbstractContextManager[None]: ...


class MemoryTokens:
    """Tokens for one process's life."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()

    def load(self) -> Tokens | None:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._lock:
            yield


class FileTokens:
    """Tokens in a JSON file, one login per API URL, private to its owner.

    The file is written atomically (a new file in the same directory, mode 0600, then renamed over the old)
    and a directory it needs is created with mode 0700. Processes sharing the file refresh one at a time,
    under an advisory lock (`<file>.lock`), and a process that finds the tokens already renewed by another
    uses those instead of spending the used refresh token.
    """

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url.rstrip("/")
        self._thread_lock = threading.Lock()

    def load(self) -> Tokens | None:
        entry = self._read().get(self.url)
        if not isinstance(entry, dict):
            return None
        try:
            return Tokens(entry["access_token"], entry["refresh_token"], entry.get("username"))
        except KeyError:
            return None

    def save(self, tokens: Tokens) -> None:
        logins = self._read()
        logins[self.url] = {
            "username": tokens.username,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
        }
        self._write(logins)

    def clear(self) -> None:
        logins = self._read()
        if logins.pop(self.url, None) is not None:
            self._write(logins)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self._mkdir()
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._thread_lock, open(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            content = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(f"unreadable credentials file {self.path}: {exc}") from exc
        logins = content.get("logins") if isinstance(content, dict) else None
        return logins if isinstance(logins, dict) else {}

    def _write(self, logins: dict[str, Any]) -> None:
        self._mkdir()
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp made it 0600
                json.dump({"version": 1, "logins": logins}, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _mkdir(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)


# ---- Server-Sent Events


@dataclass(frozen=True)
class _Message:
    id: str | None
    event: str
    data: str | None
    retry_ms: int | None


def parse_sse(lines: Iterable[str]) -> Iterator[_Message]:
    """The messages of an event stream (the WHATWG rules: `data` lines joined with newlines, comments and
    unknown fields ignored, `retry` only when all digits); a message without data carries only `retry`."""
    event_id: str | None = None  # kept from message to message, as the last event id is
    event, retry = "", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or retry is not None:
                yield _Message(event_id, event or "message", "\n".join(data) if data else None, retry)
            event, data, retry = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)


# ---- the client


class Client:
    """The userq API for one user (whose tokens are in `tokens`); a context manager that closes its pool."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenStore | None = None,
        *,
        timeout: float = 30.0,
        batch_size: int = BATCH_SIZE,
        submit_retries: int = 3,
        max_retry_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens: TokenStore = tokens if tokens is not None else MemoryTokens()
        self.batch_size = batch_size
        self.submit_retries = submit_retries  # extra tries of a submission refused with 429/503 + Retry-After
        self.max_retry_wait_s = max_retry_wait_s  # a longer Retry-After is raised at once
        self._sleep = sleep
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers={"User-Agent": USER_AGENT})

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- accounts and sessions

    def register(self, username: str, password: str) -> User:
        body = {"username": username, "password": password}
        return cast(User, self._call("POST", "/v1/auth/register", json=body, auth=False).json())

    def login(self, username: str, password: str) -> Tokens:
        body = {"username": username, "password": password}
        pair = self._call("POST", "/v1/auth/token", json=body, auth=False).json()
        tokens = Tokens(pair["access_token"], pair["refresh_token"], username)
        with self.tokens.lock():
            self.tokens.save(tokens)
        return tokens

    def refresh(self) -> Tokens:
        """Swap the refresh token for a new pair now (calls do it themselves when the access token expired)."""
        with self.tokens.lock():
            return self._rotate()

    def logout(self) -> None:
        """End the session on the server (its tokens stop working at once) and forget its tokens."""
        try:
            if self.tokens.load() is not None:
                self._call("POST", "/v1/auth/logout")
        except ApiError as exc:
            if exc.status != 401:  # 401: the session had ended already
                raise
        finally:
            with self.tokens.lock():
                self.tokens.clear()

    # -- requests

    def submit(
        self, type_: str, payload: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> RequestView:
        """Submit one request; a 429 or 503 with a short Retry-After is waited out and tried again (a refusal
        means "not accepted", so trying again cannot run it twice)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = {"type": type_, "payload": dict(payload or {})}
        response = self._retrying(lambda: self._call("POST", "/v1/requests", json=body, headers=headers))
        return cast(RequestView, response.json())

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
            response = self._retrying(lambda: self._call("POST", "/v1/requests/batch", json=body))
        except ApiError as exc:
            if exc.code != "batch_too_large" or len(chunk) == 1:
                raise
            half = len(chunk) // 2  # this API takes fewer at once: split, and remember it
            self.batch_size = min(self.batch_size, half)
            yield from self._submit_chunk(chunk[:half])
            yield from self._submit_chunk(chunk[half:])
            return
        yield cast(list[RequestView], response.json()["requests"])

    def get(self, request_id: str) -> RequestView:
        return cast(RequestView, self._call("GET", f"/v1/requests/{request_id}").json())

    def list_requests(self, status: str | None = None, page_size: int = 100) -> Iterator[RequestView]:
        """The caller's requests in queue order, page after page, as long as the caller reads."""
        pages = self._pages("/v1/requests", "requests", {"limit": page_size, "status": status})
        return cast(Iterator[RequestView], pages)

    # -- the caller's queue

    def queue(self) -> QueueView:
        return cast(QueueView, self._call("GET", "/v1/queue").json())

    def pause(self) -> QueueView:
        return cast(QueueView, self._call("POST", "/v1/queue/pause").json())

    def resume(self) -> QueueView:
        return cast(QueueView, self._call("POST", "/v1/queue/resume").json())

    def purge(self) -> Purged:
        return cast(Purged, self._call("POST", "/v1/queue/purge").json())

    # -- the live stream

    def stream(
        self, last_event_id: int | None = None, *, read_timeout: float = 60.0, max_failures: int = 10
    ) -> Generator[Event, None, None]:
        """The caller's state changes, in order, for as long as the caller reads: after the stream ends or
        breaks (the server's maximum duration, a restart) it reconnects with `Last-Event-ID`, so no event is
        missed or repeated. Raises `ApiError` when the API refuses (the session ended: 401), and the last
        transport error after `max_failures` failed connections in a row. `read_timeout` must exceed the
        API's heartbeat interval."""
        last = last_event_id
        delay_s, failures = 1.0, 0
        while True:
            try:
                with self._open_stream(last, read_timeout) as response:
                    failures = 0
                    for message in parse_sse(response.iter_lines()):
                        if message.retry_ms is not None:
                            delay_s = message.retry_ms / 1000
                        if message.data is None:
                            continue
                        event_id = int(message.id) if message.id and message.id.isdigit() else None
                        if event_id is not None:
                            last = event_id
                        yield Event(event_id, message.event, cast(StreamEvent, json.loads(message.data)))
            except httpx.TransportError:
                failures += 1
                if failures >= max_failures:
                    raise
            except ApiError as exc:
                if exc.status != 503 or exc.retry_after is None:
                    raise
                failures += 1
                if failures >= max_failures:
                    raise
            self._sleep(min(delay_s * 2 ** max(0, failures - 1), 30.0))

    @contextlib.contextmanager
    def _open_stream(self, last_event_id: int | None, read_timeout: float) -> Iterator[httpx.Response]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(self.http.timeout.connect or 10.0, read=read_timeout)
        response = self._call("GET", "/v1/stream", headers=headers, timeout=timeout, stream=True)
        try:
            yield response
        finally:
            response.close()

    # -- admin (role `admin`)

    def dead_letters(
        self, user_id: str | None = None, type_: str | None = None, page_size: int = 100
    ) -> Iterator[DeadLetterView]:
        pages = self._pages(
            "/v1/admin/dead-letters", "dead_letters", {"limit": page_size, "user_id": user_id, "type": type_}
        )
        return cast(Iterator[DeadLetterView], pages)

    def _pages(self, path: str, field: str, query: dict[str, str | int | None]) -> Iterator[Any]:
        """The items of every page of a cursor-paginated list, fetched as the caller reads."""
        params = {name: value for name, value in query.items() if value is not None}
        while True:
            page = self._call("GET", path, params=params).json()
            yield from page[field]
            if page["next_cursor"] is None:
                return
            params["cursor"] = page["next_cursor"]

    def redrive(self, request_id: str) -> RequestView:
        """Send a dead letter back into its user's order (the user's later requests wait behind it)."""
        return cast(RequestView, self._call("POST", f"/v1/admin/dead-letters/{request_id}/redrive").json())

    def redrive_user(self, user_id: str) -> list[RequestView]:
        """Redrive all of a user's dead letters, in their order."""
        response = self._call("POST", f"/v1/admin/users/{user_id}/dead-letters/redrive")
        return cast(list[RequestView], response.json()["requests"])

    def discard(self, request_id: str) -> RequestView:
        return cast(RequestView, self._call("POST", f"/v1/admin/dead-letters/{request_id}/discard").json())

    # -- plumbing

    def _call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a call; a 401 with an access token gets one refresh and one more try. Returns a 2xx response
        (still open when `stream`), raises `ApiError` for anything else."""
        tokens = self.tokens.load() if auth else None
        response = self._send(method, path, tokens, stream, headers, kwargs)
        if response.status_code == 401 and tokens is not None:
            response.read()  # the refusal, should the renewal fail
            response.close()
            renewed = self._renewed(tokens)
            if renewed is not None:
                response = self._send(method, path, renewed, stream, headers, kwargs)
        if response.is_success:
            return response
        if stream:
            response.read()
            response.close()
        raise _error(response)

    def _send(
        self,
        method: str,
        path: str,
        tokens: Tokens | None,
        stream: bool,
        headers: Mapping[str, str] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        sent = dict(headers or {})
        if tokens is not None:
            sent["Authorization"] = f"Bearer {tokens.access_token}"
        request = self.http.build_request(method, path, headers=sent, **kwargs)
        return self.http.send(request, stream=stream)

    def _renewed(self, rejected: Tokens) -> Tokens | None:
        """Tokens to try again with after `rejected` got a 401: renewed by someone else sharing the store
        meanwhile, or by us now; None when the session is over (the store is then cleared)."""
        with self.tokens.lock():
            current = self.tokens.load()
            if current is None:
                return None
            if current.access_token != rejected.access_token:
                return current
            try:
                return self._rotate()
            except ApiError as exc:
                if exc.status != 401:
                    raise
                self.tokens.clear()  # used, expired or revoked: log in again
                return None

    def _rotate(self) -> Tokens:
        """Spend the stored refresh token (the caller holds the store's lock)."""
        current = self.tokens.load()
        if current is None:
            raise ApiError(401, "not_logged_in", "not logged in")
        pair = self._call("POST", "/v1/auth/refresh", json={"refresh_token": current.refresh_token}, auth=False)
        body = pair.json()
        tokens = Tokens(body["access_token"], body["refresh_token"], current.username)
        self.tokens.save(tokens)
        return tokens

    def _retrying(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        for attempt in range(self.submit_retries + 1):
            try:
                return call()
            except ApiError as exc:
                wait = exc.retry_after
                if (
                    exc.status not in (429, 503)
                    or wait is None
                    or wait > self.max_retry_wait_s
                    or attempt == self.submit_retries
                ):
                    raise
                self._sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises


def _error(response: httpx.Response) -> ApiError:
    code, message = f"http_{response.status_code}", response.reason_phrase or "error"
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        if response.text.strip():
            message = response.text.strip()[:200]
    return ApiError(response.status_code, code, message, _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
