"""How the commands print: results on standard output (JSON, or one line per item), errors on standard
error."""

from __future__ import annotations

import json
from typing import Any

import typer

from userq.client import ApiError, UserqError


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def print_line(value: Any) -> None:
    typer.echo(compact(value))


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def outcome(result: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    """A line's tail: two spaces and the result, or else the error, when there is one."""
    shown = result if result is not None else error
    return f"  {compact(shown)}" if shown is not None else ""


def error_message(error: UserqError) -> str:
    """What went wrong, with what to do about it when we know."""
    if not isinstance(error, ApiError):
        return str(error)
    hint = ""
    if error.status == 401 and error.code == "unauthorized":
        hint = " (log in with `userq login USERNAME`)"
    elif error.retry_after is not None:
        hint = f" (try again in {error.retry_after:g} s)"
    return f"{error.message} [{error.code}, HTTP {error.status}]{hint}"
