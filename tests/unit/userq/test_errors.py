"""userq/errors.py: one root, and a refusal read from the API's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from userq import errors
from userq.errors import ApiError, TransportFailed, UserqError, api_error, retry_after_s, transport_failed


def test_every_error_of_the_client_is_a_userq_error() -> None:
    classes = [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, Exception)]
    assert {cls.__name__ for cls in classes} == {
        "UserqError",
        "ApiError",
        "TransportFailed",
        "UnexpectedResponse",
        "NotLoggedIn",
        "CredentialsError",
    }
    assert all(issubclass(cls, UserqError) for cls in classes)


def test_a_refusal_carries_the_apis_status_code_message_and_retry_after() -> None:
    response = httpx.Response(
        429, json={"error": {"code": "rate_limited", "message": "slow down"}}, headers={"Retry-After": "3"}
    )
    error = api_error(response)
    assert (error.status, error.code, error.message, error.retry_after) == (429, "rate_limited", "slow down", 3.0)
    assert str(error) == "slow down (rate_limited, HTTP 429)"


@pytest.mark.parametrize(
    ("response", "code", "message"),
    [
        (httpx.Response(502, text="<html>bad gateway</html>"), "http_502", "<html>bad gateway</html>"),
        (httpx.Response(500, json={"detail": "oops"}), "http_500", '{"detail":"oops"}'),
        (httpx.Response(503), "http_503", "Service Unavailable"),
        (httpx.Response(404, text="x" * 300), "http_404", "x" * 200),
    ],
)
def test_a_refusal_in_another_shape_keeps_the_status_and_the_text(
    response: httpx.Response, code: str, message: str
) -> None:
    error = api_error(response)
    assert isinstance(error, ApiError)
    assert (error.status, error.code, error.message, error.retry_after) == (response.status_code, code, message, None)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s(None) is None
    assert retry_after_s("5") == 5.0
    assert retry_after_s(" 7 ") == 7.0
    assert retry_after_s("soon") is None
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("Wed, 01 Jan 2025 12:00:10", now) == 10.0  # no zone: GMT


def test_a_transport_failure_says_whether_the_api_was_reached() -> None:
    refused = transport_failed("http://api:3000", httpx.ConnectError("[Errno 111] Connection refused"))
    assert isinstance(refused, TransportFailed)
    assert str(refused) == "cannot reach http://api:3000: [Errno 111] Connection refused"
    assert (
        str(transport_failed("http://api:3000", httpx.ReadTimeout(""))) == "no answer from http://api:3000: ReadTimeout"
    )
