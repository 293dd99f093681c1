"""`userq queue` (show, the default), `queue pause`, `resume`, `purge`."""

from __future__ import annotations

from typing import Annotated

import typer

from userq.cli.options import connect
from userq.cli.output import print_json


def show_by_default(ctx: typer.Context) -> None:
    """Show your queue: depth, retrying, paused, state."""
    if ctx.invoked_subcommand is None:
        show(ctx)


def show(ctx: typer.Context) -> None:
    """Depth, retrying, oldest waiting, paused, state."""
    with connect(ctx) as client:
        print_json(client.queue())


def pause(ctx: typer.Context) -> None:
    """Start no more requests; new ones are still accepted and wait."""
    with connect(ctx) as client:
        print_json(client.pause())


def resume(ctx: typer.Context) -> None:
    """Start requests again (a queue an operator paused only an operator resumes)."""
    with connect(ctx) as client:
        print_json(client.resume())


def purge(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Cancel every request still waiting to start."""
    if not yes:
        typer.confirm("cancel every request of yours still waiting to start?", abort=True, err=True)
    with connect(ctx) as client:
        print_json(client.purge())
