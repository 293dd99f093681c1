"""`userq watch`: the live stream, one line (or JSON line) per state change."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from userq.cli.options import connect
from userq.cli.output import outcome, print_line
from userq.client import Event


def watch(
    ctx: typer.Context,
    count: Annotated[int | None, typer.Option(min=1, help="Exit after this many events.")] = None,
    last_event_id: Annotated[
        int | None, typer.Option(min=0, help="Start after this event (default: from the start of the history).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Follow your requests' state changes live (Ctrl-C stops); reconnects without missing any."""
    with connect(ctx) as client, contextlib.closing(client.stream(last_event_id)) as events:
        seen = 0
        try:
            for event in events:
                if as_json:
                    print_line({"id": event.id, **event.data})
                else:
                    typer.echo(_event_line(event))
                seen += 1
                if seen == count:
                    break
        except KeyboardInterrupt:
            typer.echo("", err=True)


def _event_line(event: Event) -> str:
    data = event.data
    tail = outcome(data["result"], data["error"])
    return f"{event.id or '':>8}  {data['at']}  {data['request_id']}  {data['status']:<13} {data['type']}{tail}"
