"""userq/sse.py: the event stream format."""

from __future__ import annotations

from userq.sse import Message, parse_sse


def test_messages_follow_the_event_stream_rules() -> None:
    lines = [
        ": heartbeat",
        "retry: 2500",
        "",
        "id: 1",
        "event: request",
        'data: {"a":',
        "data: 1}",
        "",
        "data:no space",
        "",
        "id: 7",
        "retry: soon",
        "unknown: field",
        "data",
        "",
        "event: request",
        "",
        "id: a\0b",
        "data: x",
        "",
    ]
    assert list(parse_sse(lines)) == [
        Message(None, "message", None, 2500),
        Message("1", "request", '{"a":\n1}', None),
        Message("1", "message", "no space", None),  # the last event id carries over
        Message("7", "message", "", None),
        Message("7", "message", "x", None),  # an id with NUL is ignored
    ]


def test_a_message_without_its_blank_line_is_not_given() -> None:
    assert list(parse_sse(["id: 1", "data: cut off"])) == []
