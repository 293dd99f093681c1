"""One user's authenticated connection to the API: the accounts and sessions (`/v1/auth/*`) and the calls
every other part of the client sends through it.

Every call carries the stored access token. A 401 gets the tokens renewed once, by spending the refresh
token or by finding them renewed meanwhile by another holder of the same store, and the call sent again.
A refusal raises `ApiError`, no answer `TransportFailed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, cast

import httpx

from userq.errors import ApiError, NotLoggedIn, UnexpectedResponse, api_error, transport_failed
from userq.tokens import MemoryTokens, Tokens, TokenStore
from userq.views import User

USER_AGENT = "userq-client/1"


class Session:
    """The API at `base_url` for the user whose tokens are in `tokens`; a context manager that closes its
    connection pool. `transport` replaces httpx's own (a proxy, a test double)."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenStore | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens: TokenStore = tokens if tokens is not None else MemoryTokens()
        self.http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"User-Agent": USER_AGENT}, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- accounts and sessions

    def register(self, username: str, password: str) -> User:
        body = {"username": username, "password": password}
        return cast(User, self.json("POST", "/v1/auth/register", json=body, auth=False))

    def login(self, username: str, password: str) -> Tokens:
        body = {"username": username, "password": password}
        pair = self.json("POST", "/v1/auth/token", json=body, auth=False)
        tokens = _tokens(pair, username)
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
                self.call("POST", "/v1/auth/logout")
        except ApiError as exc:
            if exc.status != 401:  # 401: the session had ended already
                raise
        finally:
            with self.tokens.lock():
                self.tokens.clear()

    # -- calls

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call's JSON answer (see `call`)."""
        response = self.call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedResponse(f"{method} {path}: HTTP {response.status_code}, not JSON") from exc

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a call (with the access token when `auth`); a 401 gets one renewal and one more try. Returns
        a 2xx response, still open when `stream`; raises `ApiError` for anything else."""
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
        raise api_error(response)

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
        try:
            return self.http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise transport_failed(self.base_url, exc) from exc

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
            raise NotLoggedIn("not logged in")
        pair = self.json("POST", "/v1/auth/refresh", json={"refresh_token": current.refresh_token}, auth=False)
        tokens = _tokens(pair, current.username)
        self.tokens.save(tokens)
        return tokens


def _tokens(pair: Any, username: str | None) -> Tokens:
    try:
        return Tokens(str(pair["access_token"]), str(pair["refresh_token"]), username)
    except (KeyError, TypeError) as exc:
        raise UnexpectedResponse("a token answer without access_token and refresh_token") from exc
