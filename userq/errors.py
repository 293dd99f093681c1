"""What the client raises: one root, `UserqError`, and one class for each way a call can fail.

UserqError
├── ApiError             the API answered and refused: its status, code and message
├── TransportFailed      no answer: the API could not be reached, or the connection broke
├── UnexpectedResponse   an answer that is not the API's (not JSON where JSON is due: a wrong URL?)
├── NotLoggedIn          no tokens stored where a login is needed
└── CredentialsError     the credentials file cannot be read or written
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import httpx


class UserqError(Exception):
    """Anything the client raises on purpose."""


class ApiError(UserqError):
    """The API refused a call: `status` (HTTP), `code` and `message` as its error body says, and on 429 and
    503 `retry_after` (seconds)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class TransportFailed(UserqError):
    """Nothing, or only part of an answer, came back (the httpx error is the `__cause__`). A submission whose
    answer was lost may have been accepted: send an `Idempotency-Key` to make a repeat harmless."""


class UnexpectedResponse(UserqError):
    """A successful answer that the API v1 does not give."""


class NotLoggedIn(UserqError):
    """The token store holds no login."""


class CredentialsError(UserqError):
    """The credentials file cannot be read or written (the `OSError` or `ValueError` is the `__cause__`)."""


def transport_failed(url: str, error: httpx.TransportError) -> TransportFailed:
    unreachable = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
    return TransportFailed(
        f"{'cannot reach' if unreachable else 'no answer from'} {url}: {str(error) or type(error).__name__}"
    )


def api_error(response: httpx.Response) -> ApiError:
    """The refusal a non-2xx response (already read) stands for."""
    code, message = f"http_{response.status_code}", response.reason_phrase or "error"
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        if response.text.strip():
            message = response.text.strip()[:200]
    return ApiError(response.status_code, code, message, retry_after_s(response.headers.get("Retry-After")))


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (counted from `now`, default the clock)."""
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
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
