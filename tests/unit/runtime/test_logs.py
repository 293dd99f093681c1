"""`configure_logging`: one JSON line per event, from structlog and the standard library alike, with the
service's static keys, the request's bound context, and the level filter."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from runtime.logs import configure_logging


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """The JSON lines logged to standard error so far; logging as it was, after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def read() -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]

    yield read
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level = handlers, level


def test_a_line_carries_the_static_keys_the_bound_context_and_what_it_was_given(lines: Any) -> None:
    configure_logging("info", "json", worker="worker-1")
    request_id = uuid.uuid4()
    with structlog.contextvars.bound_contextvars(trace_id="t" * 32):
        structlog.get_logger("test").info("request succeeded", request_id=request_id)
    [line] = lines()
    assert line["event"] == "request succeeded"
    assert (line["level"], line["worker"], line["trace_id"]) == ("info", "worker-1", "t" * 32)
    assert line["request_id"] == str(request_id)  # what JSON cannot hold, as its str
    assert line["timestamp"].endswith("Z")


def test_a_given_key_wins_over_a_static_one(lines: Any) -> None:
    configure_logging("info", "json", worker="worker-1")
    structlog.get_logger("test").info("handed over", worker="worker-2")
    assert [line["worker"] for line in lines()] == ["worker-2"]


def test_lines_below_the_level_are_not_written(lines: Any) -> None:
    configure_logging("WARNING", "json")
    log = structlog.get_logger("test")
    log.info("not written")
    log.warning("written")
    logging.getLogger("some.library").info("not written either")
    assert [line["event"] for line in lines()] == ["written"]


def test_the_standard_librarys_lines_are_the_same_json(lines: Any) -> None:
    configure_logging("info", "json", service="producer_api")
    logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)
    [line] = lines()
    assert (line["event"], line["level"], line["service"]) == ("Started server process [42]", "warning", "producer_api")
