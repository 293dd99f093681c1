"""`userq register`, `login`, `logout`."""

from __future__ import annotations

from typing import Annotated

import typer

from userq.cli.options import connect


def register(
    ctx: typer.Context,
    username: str,
    password: Annotated[
        str, typer.Option(envvar="USERQ_PASSWORD", prompt=True, hide_input=True, confirmation_prompt=True)
    ],
) -> None:
    """Create an account (then `userq login`)."""
    with connect(ctx) as client:
        user = client.register(username, password)
    typer.echo(f"registered {user['username']} ({user['user_id']})", err=True)


def login(
    ctx: typer.Context,
    username: str,
    password: Annotated[str, typer.Option(envvar="USERQ_PASSWORD", prompt=True, hide_input=True)],
) -> None:
    """Log in; the tokens are kept in the credentials file and renewed as they expire."""
    with connect(ctx) as client:
        client.login(username, password)
    typer.echo(f"logged in as {username} at {ctx.obj.url}", err=True)


def logout(ctx: typer.Context) -> None:
    """End the session (its tokens stop working at once) and forget it."""
    with connect(ctx) as client:
        client.logout()
    typer.echo("logged out", err=True)
