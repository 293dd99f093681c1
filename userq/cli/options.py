"""The options every command takes (`--url`, `--credentials`) and the client they open."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from userq.cli.output import error_message
from userq.client import Client, FileTokens, UserqError

DEFAULT_URL = "http://127.0.0.1:3000"


@dataclass(frozen=True)
class Options:
    url: str
    credentials: Path


def default_credentials() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "userq" / "credentials.json"


def global_options(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="USERQ_URL", help="The API's base URL.")] = DEFAULT_URL,
    credentials: Annotated[
        Path | None,
        typer.Option(
            envvar="USERQ_CREDENTIALS",
            help="Where logins are kept (mode 0600); default ~/.config/userq/credentials.json, or in $XDG_CONFIG_HOME",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    ctx.obj = Options(url.rstrip("/"), credentials or default_credentials())


@contextlib.contextmanager
def connect(ctx: typer.Context) -> Iterator[Client]:
    """A client of the chosen API with the stored login; any error of the client's becomes its message on
    standard error and exit code 1."""
    options: Options = ctx.obj
    try:
        with Client(options.url, FileTokens(options.credentials, options.url)) as client:
            yield client
    except UserqError as exc:
        typer.echo(f"error: {error_message(exc)}", err=True)
        raise typer.Exit(1) from None
