"""`userq`: the command line of the userq API, over `userq.client`.

Exit codes: 0 done; 1 the API refused (its message on standard error) or could not be reached; 2 usage.
Results go to standard output (JSON objects, or one line per item; `--json` gives JSON lines), messages and
the progress bar to standard error, so the output can be piped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from userq.client import (
    BATCH_SIZE,
    ApiError,
    Client,
    DeadLetterView,
    Event,
    FileTokens,
    NewRequest,
    RequestView,
)

DEFAULT_URL = "http://127.0.0.1:3000"

app = typer.Typer(
    name="userq",
    help="Submit and follow requests on a userq API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback with locals could show tokens
)
queue_app = typer.Typer(help="Your queue: show (the default), pause, resume, purge.", invoke_without_command=True)
admin_app = typer.Typer(help="Operator commands (role admin).", no_args_is_help=True)
dead_letters_app = typer.Typer(help="Dead letters: list, redrive, discard.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
app.add_typer(admin_app, name="admin")
admin_app.add_typer(dead_letters_app, name="dead-letters")


@dataclass(frozen=True)
class Options:
    url: str
    credentials: Path


def default_credentials() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "userq" / "credentials.json"


@app.callback()
def options(
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
def _client(ctx: typer.Context) -> Iterator[Client]:
    """A client of the chosen API with the stored login; a refusal becomes its message and exit code 1."""
    options: Options = ctx.obj
    try:
        with Client(options.url, FileTokens(options.credentials, options.url)) as client:
            yield client
    except ApiError as exc:
        hint = ""
        if exc.status == 401 and exc.code in ("unauthorized", "not_logged_in"):
            hint = " (log in with `userq login USERNAME`)"
        elif exc.retry_after is not None:
            hint = f" (try again in {exc.retry_after:g} s)"
        typer.echo(f"error: {exc.message} [{exc.code}, HTTP {exc.status}]{hint}", err=True)
        raise typer.Exit(1) from None
    except httpx.TransportError as exc:
        typer.echo(f"error: cannot reach {options.url}: {exc or type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def _print_line(value: Any) -> None:
    typer.echo(json.dumps(value, separators=(",", ":")))


# ---- accounts


@app.command()
def register(
    ctx: typer.Context,
    username: str,
    password: Annotated[
        str, typer.Option(envvar="USERQ_PASSWORD", prompt=True, hide_input=True, confirmation_prompt=True)
    ],
) -> None:
    """Create an account (then `userq login`)."""
    with _client(ctx) as client:
        user = client.register(username, password)
    typer.echo(f"registered {user['username']} ({user['user_id']})", err=True)


@app.command()
def login(
    ctx: typer.Context,
    username: str,
    password: Annotated[str, typer.Option(envvar="USERQ_PASSWORD", prompt=True, hide_input=True)],
) -> None:
    """Log in; the tokens are kept in the credentials file and renewed as they expire."""
    with _client(ctx) as client:
        client.login(username, password)
    typer.echo(f"logged in as {username} at {ctx.obj.url}", err=True)


@app.command()
def logout(ctx: typer.Context) -> None:
    """End the session (its tokens stop working at once) and forget it."""
    with _client(ctx) as client:
        client.logout()
    typer.echo("logged out", err=True)


# ---- requests


@app.command()
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
    if (type_ is None) == (file is None):
        raise typer.BadParameter("give a TYPE or --file, not both", param_hint="TYPE / --file")
    if file is not None:
        if idempotency_key is not None:
            raise typer.BadParameter("not with --file", param_hint="--idempotency-key")
        requests = _read_jsonl(file)
        with _client(ctx) as client:
            client.batch_size = batch_size
            _submit_all(client, requests)
        return
    assert type_ is not None
    body = _json_object(payload, "--payload")
    with _client(ctx) as client:
        view = client.submit(type_, body, idempotency_key=idempotency_key)
    typer.echo(view["request_id"])


def _submit_all(client: Client, requests: list[NewRequest]) -> None:
    console = Console(stderr=True)
    columns = (TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    accepted = 0
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("submit", total=len(requests))
            for batch in client.submit_batches(requests):
                for view in batch:
                    typer.echo(view["request_id"])
                accepted += len(batch)
                progress.update(task, advance=len(batch))
    except (ApiError, httpx.TransportError):
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


@app.command()
def status(ctx: typer.Context, request_id: str) -> None:
    """One request: its status, attempts, result or error."""
    with _client(ctx) as client:
        _print_json(client.get(request_id))


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only requests in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Your requests in queue order (the oldest first)."""
    with _client(ctx) as client:
        views = client.list_requests(status, page_size=min(limit, 500))
        for shown, view in enumerate(views, 1):
            if as_json:
                _print_line(view)
            else:
                typer.echo(_request_line(view))
            if shown == limit:
                break


def _request_line(view: RequestView) -> str:
    outcome = view["result"] if view["result"] is not None else view["error"]
    tail = f"  {json.dumps(outcome, separators=(',', ':'))}" if outcome is not None else ""
    return f"{view['sequence']:>8}  {view['request_id']}  {view['status']:<13} {view['type']}{tail}"


# ---- the queue


@queue_app.callback()
def queue_show(ctx: typer.Context) -> None:
    """Show your queue: depth, retrying, paused, state."""
    if ctx.invoked_subcommand is None:
        with _client(ctx) as client:
            _print_json(client.queue())


@queue_app.command("show")
def queue_show_command(ctx: typer.Context) -> None:
    """Depth, retrying, oldest waiting, paused, state."""
    with _client(ctx) as client:
        _print_json(client.queue())


@queue_app.command()
def pause(ctx: typer.Context) -> None:
    """Start no more requests; new ones are still accepted and wait."""
    with _client(ctx) as client:
        _print_json(client.pause())


@queue_app.command()
def resume(ctx: typer.Context) -> None:
    """Start requests again (a queue an operator paused only an operator resumes)."""
    with _client(ctx) as client:
        _print_json(client.resume())


@queue_app.command()
def purge(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Cancel every request still waiting to start."""
    if not yes:
        typer.confirm("cancel every request of yours still waiting to start?", abort=True, err=True)
    with _client(ctx) as client:
        _print_json(client.purge())


# ---- the live stream


@app.command()
def watch(
    ctx: typer.Context,
    count: Annotated[int | None, typer.Option(min=1, help="Exit after this many events.")] = None,
    last_event_id: Annotated[
        int | None, typer.Option(min=0, help="Start after this event (default: from the start of the history).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Follow your requests' state changes live (Ctrl-C stops); reconnects without missing any."""
    with _client(ctx) as client, contextlib.closing(client.stream(last_event_id)) as events:
        seen = 0
        try:
            for event in events:
                if as_json:
                    _print_line({"id": event.id, **event.data})
                else:
                    typer.echo(_event_line(event))
                seen += 1
                if seen == count:
                    break
        except KeyboardInterrupt:
            typer.echo("", err=True)


def _event_line(event: Event) -> str:
    data = event.data
    outcome = data["result"] if data["result"] is not None else data["error"]
    tail = f"  {json.dumps(outcome, separators=(',', ':'))}" if outcome is not None else ""
    return f"{event.id or '':>8}  {data['at']}  {data['request_id']}  {data['status']:<13} {data['type']}{tail}"


# ---- admin


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context,
    user_id: Annotated[str | None, typer.Option(help="Only this user's.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only of this request type.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Dead letters, by user and queue order."""
    with _client(ctx) as client:
        for shown, letter in enumerate(client.dead_letters(user_id, type_, page_size=min(limit, 500)), 1):
            if as_json:
                _print_line(letter)
            else:
                typer.echo(_dead_letter_line(letter))
            if shown == limit:
                break


def _dead_letter_line(letter: DeadLetterView) -> str:
    error = json.dumps(letter["error"], separators=(",", ":"))
    return f"{letter['request_id']}  user {letter['user_id']}  {letter['type']}  attempts {letter['attempts']}  {error}"


@dead_letters_app.command()
def redrive(
    ctx: typer.Context,
    request_id: Annotated[str | None, typer.Argument(help="The dead letter to run again.")] = None,
    user: Annotated[str | None, typer.Option(help="Redrive all of this user's (by user id), in order.")] = None,
) -> None:
    """Send dead letters back into their user's order; prints the request ids."""
    if (request_id is None) == (user is None):
        raise typer.BadParameter("give a REQUEST_ID or --user, not both", param_hint="REQUEST_ID / --user")
    with _client(ctx) as client:
        views = client.redrive_user(user) if user is not None else [client.redrive(str(request_id))]
    for view in views:
        typer.echo(view["request_id"])


@dead_letters_app.command()
def discard(ctx: typer.Context, request_id: str) -> None:
    """Give up on a dead letter for good (it is no longer listed; a halted user moves on)."""
    with _client(ctx) as client:
        _print_json(client.discard(request_id))


def main() -> None:
    """The console script `userq`."""
    app()
