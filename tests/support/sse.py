"""A small Server-Sent Events reader for the live stream tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Message:
    id: int | None
    event: str | None
    data: dict[str, Any] | None
    comment: str | None = None


def messages(response: httpx.Response) -> Iterator[Message]:
    """The messages of an open `text/event-stream` response, comments (heartbeats) included."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            yield Message(None, None, None, comment=line[1:].strip())
        elif line == "":
            if "data" in fields:
                yield Message(
                    int(fields["id"]) if "id" in fields else None, fields.get("event"), json.loads(fields["data"])
                )
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def collect(stream: Iterator[Message], count: int, timeout: float = 60) -> list[Message]:
    """The next `count` events (not comments) of `stream` (from `messages`)."""
    events: list[Message] = []
    deadline = time.monotonic() + timeout
    for message in stream:
        if message.data is not None:
            events.append(message)
            if len(events) == count:
                return events
        assert time.monotonic() < deadline, f"{len(events)} of {count} events after {timeout} s"
    raise AssertionError(f"the stream ended after {len(events)} of {count} events")
