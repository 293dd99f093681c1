"""`userq submit` (one request, or a file of them in batches), `status`, `list`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from userq.cli.options import connect
from userq.cli.output import outcome, print_json, print_line
from userq.client import BATCH_SIZE, Client, NewRequest, RequestView, UserqError


def submit(
    ctx: typer.Context,
    type_: Annotated[str | None, typer.Argument(help="The request type, e.g. demo.echo.")] = None,
    payload: Annotated[str, typer.Option(help="The payload, a JSON object.")] = "{}",
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help='JSON lines of {"type", "payload"}, sent in order, in batches ("-": stdin).'),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Requests per batch with --file.")] = BATCH_SIZE,
    idempotency_key: Annotated[str | None, typer.Option(help="Sent as Idempotency-Key (not with --file).")] = None,
) -> None:
    """Submit one request (TYPE --payload JSON) or a file of them; prints the request ids in order."""
    if type_ is not None and file is None:
        body = _json_object(payload, "--payload")
        with connect(ctx) as client:
            view = client.submit(type_, body, idempotency_key=idempotency_key)
        typer.echo(view["request_id"])
    elif file is not None and type_ is None:
        if idempotency_key is not None:
            raise typer.BadParameter("not with --file", param_hint="--idempotency-key")
        requests = _read_jsonl(file)
        with connect(ctx) as client:
            client.batch_size = batch_size
            _submit_all(client, requests)
    else:
        raise typer.BadParameter("give a TYPE or --file, not both", param_hint="TYPE / --file")


def _submit_all(client: Client, requests: list[NewRequest]) -> None:
    columns = (TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    accepted = 0
    try:
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task("submit", total=len(requests))
            for batch in client.submit_batches(requests):
                for view in batch:
                    typer.echo(view["request_id"])
                accepted += len(batch)
                progress.update(task, advance=len(batch))
    except UserqError:
        typer.echo(f"accepted {accepted} of {len(requests)}; the rest were not submitted", err=True)
        raise
    typer.echo(f"accepted {accepted} requests", err=True)


def _read_jsonl(path: Path) -> list[NewRequest]:
    """Every request of the file, checked before any is sent: a typo on line 900 must not submit 899."""
    try:
        lines = sys.stdin.read().splitlines() if str(path) == "-" else path.read_text().splitlines()
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="--file") from None
    requests: list[NewRequest] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        item = _json_object(line, f"--file line {number}")
        if not isinstance(item.get("type"), str) or set(item) - {"type", "payload"}:
            raise typer.BadParameter('expected {"type": "...", "payload": {...}}', param_hint=f"--file line {number}")
        payload = item.get("payload", {})
        if not isinstance(payload, dict):
            raise typer.BadParameter("payload must be a JSON object", param_hint=f"--file line {number}")
        requests.append({"type": item["type"], "payload": payload})
    if not requests:
        raise typer.BadParameter("no requests in the file", param_hint="--file")
    return requests


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=where) from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=where)
    return value


def status(ctx: typer.Context, request_id: str) -> None:
    """One request: its status, attempts, result or error."""
    with connect(ctx) as client:
        print_json(client.get(request_id))


def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only requests in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Your requests in queue order (the oldest first)."""
    with connect(ctx) as client:
        views = client.list_requests(status, page_size=min(limit, 500))
        for shown, view in enumerate(views, 1):
            if as_json:
                print_line(view)
            else:
                typer.echo(_request_line(view))
            if shown == limit:
                break


def _request_line(view: RequestView) -> str:
    tail = outcome(view["result"], view["error"])
    return f"{view['sequence']:>8}  {view['request_id']}  {view['status']:<13} {view['type']}{tail}"
