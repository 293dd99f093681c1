"""The Server-Sent Events wire format: lines in, messages out (the WHATWG rules), no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One message; one without data carries only `retry` (milliseconds)."""

    id: str | None
    event: str
    data: str | None
    retry_ms: int | None


def parse_sse(lines: Iterable[str]) -> Iterator[Message]:
    """The messages of an event stream: `data` lines joined with newlines, comments and unknown fields
    ignored, `retry` only when all digits, the last event id kept from message to message."""
    event_id: str | None = None
    event, retry = "", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or retry is not None:
                yield Message(event_id, event or "message", "\n".join(data) if data else None, retry)
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
