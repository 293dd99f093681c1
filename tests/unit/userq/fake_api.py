"""The userq API v1 as the client sees it, in memory, behind `httpx.MockTransport`: accounts, sessions with
refresh tokens that work once, requests, the queue, the live stream and dead letters.

It answers the way the real API does (the status, the `{"error": {"code", "message"}}` body, Retry-After)
but runs nothing: a test moves a request on with `finish`. It records every call, and a test can put
answers of its own (a response, or an httpx error to raise) ahead of a route's with `script`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

URL = "http://userq.test"
TYPES = {"demo.echo", "demo.poison", "ledger.deposit"}


def refusal(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


@dataclass
class Account:
    user_id: str
    password: str
    admin: bool = False
    paused: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)


Route = Callable[..., httpx.Response]


def authenticated(route: Route) -> Route:
    """The route, called with the caller's account, or a 401 for a token that is not (or no longer) good."""

    def checked(api: FakeApi, request: httpx.Request, **path: str) -> httpx.Response:
        account = api.caller(request)
        if account is None:
            return refusal(401, "unauthorized", "missing, invalid or expired credentials")
        return route(api, request, account, **path)

    return checked


def admin_only(route: Route) -> Route:
    """The route (called without the account) for an admin, or a 403."""

    def checked(api: FakeApi, request: httpx.Request, account: Account, **path: str) -> httpx.Response:
        if not account.admin:
            return refusal(403, "forbidden", "this needs the role admin")
        return route(api, request, **path)

    return checked


class FakeApi:
    def __init__(self) -> None:
        self.transport = httpx.MockTransport(self.handle)
        self.max_batch = 100  # MAX_BATCH_REQUESTS
        self.calls: list[httpx.Request] = []
        self.accounts: dict[str, Account] = {}
        self.access: dict[str, str] = {}  # access token -> session
        self.refresh: dict[str, str] = {}  # unused refresh token -> session
        self.spent: dict[str, str] = {}  # used refresh token -> session: presenting it again ends the session
        self.sessions: dict[str, str] = {}  # live session -> username
        self.events: list[dict[str, Any]] = []  # the live stream's history (every user's: tests use one)
        self.stream_cuts: deque[int] = deque()  # per stream connection: break after this many events
        self.retry_ms: int | None = None  # the stream's `retry` field
        self.rejection_barrier: threading.Barrier | None = None  # holds 401s back until every caller has one
        self.scripted: dict[tuple[str, str], deque[httpx.Response | Exception]] = defaultdict(deque)
        self._lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("POST", re.compile(r"/v1/auth/register"), self._register),
            ("POST", re.compile(r"/v1/auth/token"), self._token),
            ("POST", re.compile(r"/v1/auth/refresh"), self._refresh),
            ("POST", re.compile(r"/v1/auth/logout"), self._logout),
            ("POST", re.compile(r"/v1/requests"), self._submit),
            ("POST", re.compile(r"/v1/requests/batch"), self._batch),
            ("GET", re.compile(r"/v1/requests/(?P<request_id>[^/]+)"), self._get),
            ("GET", re.compile(r"/v1/requests"), self._list),
            ("GET", re.compile(r"/v1/queue"), self._queue),
            ("POST", re.compile(r"/v1/queue/(?P<action>pause|resume|purge)"), self._queue_action),
            ("GET", re.compile(r"/v1/stream"), self._stream),
            ("GET", re.compile(r"/v1/admin/dead-letters"), self._dead_letters),
            (
                "POST",
                re.compile(r"/v1/admin/dead-letters/(?P<request_id>[^/]+)/(?P<action>redrive|discard)"),
                self._dead,
            ),
            ("POST", re.compile(r"/v1/admin/users/(?P<user_id>[^/]+)/dead-letters/redrive"), self._redrive_user),
        ]

    # -- what tests do

    def script(self, method: str, path: str, *answers: httpx.Response | Exception) -> None:
        """Answer the next calls of `method path` with `answers` (an exception is raised), then as usual."""
        self.scripted[method, path].extend(answers)

    def add_user(self, username: str, password: str = "a long enough password", admin: bool = False) -> Account:
        account = self.accounts[username] = Account(str(uuid.uuid4()), password, admin)
        return account

    def expire_access_tokens(self) -> None:
        """Every access token given out so far stops working (as at the end of its lifetime)."""
        with self._lock:
            self.access.clear()

    def calls_to(self, method: str, path: str) -> list[httpx.Request]:
        return [call for call in self.calls if call.method == method and call.url.path == path]

    def finish(self, request_id: str, status: str = "succeeded", result: Any = None, error: Any = None) -> None:
        """Move a request on, as a worker would: processing, then `status` with `result` or `error`."""
        view = self._find(request_id)
        assert view is not None, request_id
        view.update(status="processing", attempts=view["attempts"] + 1)
        self._event(view)
        view.update(status=status, result=result, error=error, completed_at="2025-01-01T00:00:02Z")
        self._event(view)

    # -- the transport

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.calls.append(request)
            scripted = self.scripted[request.method, request.url.path]
            if scripted:
                answer = scripted.popleft()
                if isinstance(answer, Exception):
                    raise answer
                return answer
        for method, pattern, route in self._routes:
            match = pattern.fullmatch(request.url.path)
            if match and request.method == method:
                return route(request, **match.groupdict())
        return refusal(404, "not_found", "no such route")

    def caller(self, request: httpx.Request) -> Account | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            session = self.access.get(token)
            username = self.sessions.get(session) if session else None
        if username is None and self.rejection_barrier is not None:
            self.rejection_barrier.wait(10)
        return self.accounts[username] if username else None

    # -- /v1/auth

    def _register(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["username"] in self.accounts:
            return refusal(409, "username_taken", "this username is taken")
        account = self.add_user(body["username"], body["password"])
        return httpx.Response(201, json={"user_id": account.user_id, "username": body["username"]})

    def _token(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        account = self.accounts.get(body["username"])
        if account is None or account.password != body["password"]:
            return refusal(401, "invalid_credentials", "wrong username or password")
        session = uuid.uuid4().hex
        with self._lock:
            self.sessions[session] = body["username"]
            return self._pair(session)

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content)["refresh_token"]
        with self._lock:
            if token in self.spent:  # reuse: someone has a copy; end the session
                self.sessions.pop(self.spent[token], None)
            session = self.refresh.pop(token, None)
            if session is None or session not in self.sessions:
                return refusal(401, "unauthorized", "missing, invalid or expired credentials")
            self.spent[token] = session
            return self._pair(session)

    def _pair(self, session: str) -> httpx.Response:
        access, refresh = f"access-{uuid.uuid4().hex}", f"refresh-{uuid.uuid4().hex}"
        self.access[access], self.refresh[refresh] = session, session
        pair = {"access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": 900}
        return httpx.Response(200, json=pair)

    @authenticated
    def _logout(self, request: httpx.Request, account: Account) -> httpx.Response:
        with self._lock:
            self.sessions.pop(self.access[request.headers["Authorization"].removeprefix("Bearer ")], None)
        return httpx.Response(204)

    # -- /v1/requests

    def _accept(self, account: Account, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "request_id": str(uuid.uuid4()),
            "user_id": account.user_id,
            "type": type_,
            "payload": payload,
            "status": "queued",
            "attempts": 0,
            "result": None,
            "error": None,
            "accepted_at": "2025-01-01T00:00:00Z",
            "started_at": None,
            "completed_at": None,
            "sequence": len(account.requests) + 1,
            "processed_seq": None,
        }
        account.requests.append(view)
        self._event(view)
        return view

    @authenticated
    def _submit(self, request: httpx.Request, account: Account) -> httpx.Response:
        body = json.loads(request.content)
        if body["type"] not in TYPES:
            return refusal(422, "unknown_type", f"unknown request type {body['type']!r}")
        key = request.headers.get("Idempotency-Key")
        known = [v for v in account.requests if key is not None and v.get("idempotency_key") == key]
        view = known[0] if known else self._accept(account, body["type"], body["payload"])
        view["idempotency_key"] = key
        return httpx.Response(202, json=_public(view), headers={"Location": f"/v1/requests/{view['request_id']}"})

    @authenticated
    def _batch(self, request: httpx.Request, account: Account) -> httpx.Response:
        items = json.loads(request.content)["requests"]
        if len(items) > self.max_batch:
            return refusal(413, "batch_too_large", f"at most {self.max_batch} requests a batch")
        if any(item["type"] not in TYPES for item in items):
            return refusal(422, "unknown_type", "unknown request type")
        views = [self._accept(account, item["type"], item["payload"]) for item in items]
        return httpx.Response(202, json={"requests": [_public(v) for v in views]})

    @authenticated
    def _get(self, request: httpx.Request, account: Account, request_id: str) -> httpx.Response:
        view = self._find(request_id)
        if view is None or view["user_id"] != account.user_id:
            return refusal(404, "not_found", "request not found")
        return httpx.Response(200, json=_public(view))

    @authenticated
    def _list(self, request: httpx.Request, account: Account) -> httpx.Response:
        status = request.url.params.get("status")
        return _page(request, "requests", [v for v in account.requests if status in (None, v["status"])])

    # -- /v1/queue

    @authenticated
    def _queue(self, request: httpx.Request, account: Account) -> httpx.Response:
        return httpx.Response(200, json=_queue_view(account))

    @authenticated
    def _queue_action(self, request: httpx.Request, account: Account, action: str) -> httpx.Response:
        if action != "purge":
            account.paused = action == "pause"
            return httpx.Response(200, json=_queue_view(account))
        cancelled = [v for v in account.requests if v["status"] == "queued"]
        for view in cancelled:
            view["status"] = "cancelled"
            self._event(view)
        return httpx.Response(
            200, json={"cancelled": [v["request_id"] for v in cancelled], "queue": _queue_view(account)}
        )

    # -- /v1/stream

    @authenticated
    def _stream(self, request: httpx.Request, account: Account) -> httpx.Response:
        after = int(request.headers.get("Last-Event-ID", "0"))
        assert len(self.calls_to("GET", "/v1/stream")) < 50, "the client reconnects without end"
        events = [e for e in self.events if e["seq"] > after]
        cut = self.stream_cuts.popleft() if self.stream_cuts else None
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=self._sse(events, cut))

    def _sse(self, events: list[dict[str, Any]], cut: int | None) -> Iterator[bytes]:
        yield b": heartbeat\n\n"
        if self.retry_ms is not None:
            yield f"retry: {self.retry_ms}\n\n".encode()
        for sent, event in enumerate(events):
            if sent == cut:
                raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            yield f"id: {event['seq']}\nevent: request\ndata: {json.dumps(event)}\n\n".encode()
        if cut is not None:
            raise httpx.ReadTimeout("timed out")

    def _event(self, view: dict[str, Any]) -> None:
        seq = len(self.events) + 1
        keys = ("request_id", "type", "status", "error", "sequence", "result")
        self.events.append(
            {"seq": seq, "attempt": view["attempts"], "at": f"2025-01-01T00:00:{seq:02}Z"} | {k: view[k] for k in keys}
        )

    # -- /v1/admin

    @authenticated
    @admin_only
    def _dead_letters(self, request: httpx.Request) -> httpx.Response:
        user_id, type_ = request.url.params.get("user_id"), request.url.params.get("type")
        letters = [
            {**v, "first_failed_at": v["completed_at"], "last_failed_at": v["completed_at"]}
            for v in self._all()
            if v["status"] == "dead_lettered" and user_id in (None, v["user_id"]) and type_ in (None, v["type"])
        ]
        return _page(request, "dead_letters", letters)

    @authenticated
    @admin_only
    def _dead(self, request: httpx.Request, request_id: str, action: str) -> httpx.Response:
        view = self._find(request_id)
        if view is None or view["status"] != "dead_lettered":
            return refusal(404, "not_found", "dead letter not found")
        view["status"] = "queued" if action == "redrive" else "cancelled"
        self._event(view)
        return httpx.Response(200, json=_public(view))

    @authenticated
    @admin_only
    def _redrive_user(self, request: httpx.Request, user_id: str) -> httpx.Response:
        views = [v for v in self._all() if v["user_id"] == user_id and v["status"] == "dead_lettered"]
        for view in views:
            view["status"] = "queued"
            self._event(view)
        return httpx.Response(200, json={"requests": [_public(v) for v in views]})

    def _all(self) -> Iterator[dict[str, Any]]:
        return itertools.chain.from_iterable(account.requests for account in self.accounts.values())

    def _find(self, request_id: str) -> dict[str, Any] | None:
        return next((v for v in self._all() if v["request_id"] == request_id), None)


def _public(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "idempotency_key"}


def _page(request: httpx.Request, field: str, items: list[dict[str, Any]]) -> httpx.Response:
    start, limit = int(request.url.params.get("cursor", "0")), int(request.url.params.get("limit", "50"))
    shown = items[start : start + limit]
    cursor = str(start + limit) if start + limit < len(items) else None
    return httpx.Response(200, json={field: [_public(v) for v in shown], "next_cursor": cursor})


def _queue_view(account: Account) -> dict[str, Any]:
    waiting = [v for v in account.requests if v["status"] in ("queued", "processing", "retrying")]
    return {
        "depth": len(waiting),
        "retrying": sum(v["status"] == "retrying" for v in waiting),
        "oldest_queued_at": waiting[0]["accepted_at"] if waiting else None,
        "paused": account.paused,
        "paused_by": "user" if account.paused else None,
        "hold": None,
        "state": "paused" if account.paused else ("active" if waiting else "drained"),
    }
