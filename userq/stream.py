"""Following the live stream (`GET /v1/stream`) across its ends and breaks, without missing or repeating an
event: each reconnection sends the last event id seen as `Last-Event-ID`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Generator, Iterator
from typing import cast

import httpx

from userq.errors import ApiError, TransportFailed, UnexpectedResponse, transport_failed
from userq.session import Session
from userq.sse import parse_sse
from userq.views import Event, StreamEvent

MAX_WAIT_S = 30.0  # the longest pause between two connections


def follow(
    session: Session,
    last_event_id: int | None,
    *,
    read_timeout: float,
    max_failures: int,
    sleep: Callable[[float], None],
) -> Generator[Event, None, None]:
    """The events after `last_event_id` (all the API retains when None), for as long as the caller reads.

    After the stream ends (the server's maximum duration) it connects again after the server's `retry`
    (default 1 s); after a failure (no answer, a broken stream, a 503 with Retry-After) with exponential
    backoff, and it raises the failure when `max_failures` connections in a row failed. Any other refusal
    is raised at once (the session ended: 401).
    """
    last, retry_s, failures = last_event_id, 1.0, 0
    while True:
        wait_s = 0.0
        try:
            with _open(session, last, read_timeout) as response:
                failures = 0
                for message in parse_sse(_lines(session, response)):
                    if message.retry_ms is not None:
                        retry_s = message.retry_ms / 1000
                    if message.data is None:
                        continue
                    event_id = int(message.id) if message.id and message.id.isdigit() else None
                    if event_id is not None:
                        last = event_id
                    yield Event(event_id, message.event, _data(message.data))
        except TransportFailed:
            failures += 1
            if failures >= max_failures:
                raise
        except ApiError as exc:
            if exc.status != 503 or exc.retry_after is None:
                raise
            failures += 1
            if failures >= max_failures:
                raise
            wait_s = exc.retry_after
        sleep(min(max(wait_s, retry_s * 2 ** max(0, failures - 1)), MAX_WAIT_S))


@contextlib.contextmanager
def _open(session: Session, last_event_id: int | None, read_timeout: float) -> Iterator[httpx.Response]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    timeout = httpx.Timeout(session.http.timeout.connect or 10.0, read=read_timeout)
    response = session.call("GET", "/v1/stream", headers=headers, timeout=timeout, stream=True)
    try:
        yield response
    finally:
        response.close()


def _lines(session: Session, response: httpx.Response) -> Iterator[str]:
    """The response's lines; a connection that breaks or stays silent past the read timeout is a
    `TransportFailed`."""
    try:
        yield from response.iter_lines()
    except httpx.TransportError as exc:
        raise transport_failed(session.base_url, exc) from exc


def _data(text: str) -> StreamEvent:
    try:
        return cast(StreamEvent, json.loads(text))
    except ValueError as exc:
        raise UnexpectedResponse(f"a stream event whose data is not JSON: {text[:200]!r}") from exc
