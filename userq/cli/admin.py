"""`userq admin dead-letters list`, `redrive`, `discard` (role admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from userq.cli.options import connect
from userq.cli.output import compact, print_json, print_line
from userq.client import DeadLetterView


def list_dead_letters(
    ctx: typer.Context,
    user_id: Annotated[str | None, typer.Option(help="Only this user's.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only of this request type.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Dead letters, by user and queue order."""
    with connect(ctx) as client:
        for shown, letter in enumerate(client.dead_letters(user_id, type_, page_size=min(limit, 500)), 1):
            if as_json:
                print_line(letter)
            else:
                typer.echo(_dead_letter_line(letter))
            if shown == limit:
                break


def _dead_letter_line(letter: DeadLetterView) -> str:
    error = compact(letter["error"])
    return f"{letter['request_id']}  user {letter['user_id']}  {letter['type']}  attempts {letter['attempts']}  {error}"


def redrive(
    ctx: typer.Context,
    request_id: Annotated[str | None, typer.Argument(help="The dead letter to run again.")] = None,
    user: Annotated[str | None, typer.Option(help="Redrive all of this user's (by user id), in order.")] = None,
) -> None:
    """Send dead letters back into their user's order; prints the request ids."""
    if request_id is not None and user is None:
        with connect(ctx) as client:
            views = [client.redrive(request_id)]
    elif user is not None and request_id is None:
        with connect(ctx) as client:
            views = client.redrive_user(user)
    else:
        raise typer.BadParameter("give a REQUEST_ID or --user, not both", param_hint="REQUEST_ID / --user")
    for view in views:
        typer.echo(view["request_id"])


def discard(ctx: typer.Context, request_id: str) -> None:
    """Give up on a dead letter for good (it is no longer listed; a halted user moves on)."""
    with connect(ctx) as client:
        print_json(client.discard(request_id))
