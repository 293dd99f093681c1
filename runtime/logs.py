"""structlog set-up: JSON lines in services, console output in development. Called by each `main`."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog


def configure_logging(level: str, fmt: str, **static: str) -> None:
    """Route structlog and the standard library through one renderer, with `static` keys on every line."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json) if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if static:
        shared.append(_StaticKeys(static))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _json(event: object, **_options: object) -> str:
    """A log line through orjson (a worker logs every request); what it cannot encode, as its `str`."""
    return orjson.dumps(event, default=str).decode()


class _StaticKeys:
    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = keys

    def __call__(self, _logger: object, _name: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        for key, value in self._keys.items():
            event.setdefault(key, value)
        return event
