"""`userq`: the command line of the userq API, over `userq.client`.

Exit codes: 0 done; 1 the API refused (its message on standard error) or could not be reached; 2 usage.
Results go to standard output (JSON objects, or one line per item; `--json` gives JSON lines), messages and
the progress bar to standard error, so the output can be piped.

The commands live by subject in this package's modules; this one puts them together.
"""

from __future__ import annotations

import typer

from userq.cli import account, admin, queue, requests, watch
from userq.cli.options import global_options

app = typer.Typer(
    name="userq",
    help="Submit and follow requests on a userq API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback with locals could show tokens
)
app.callback()(global_options)
for command in (account.register, account.login, account.logout, requests.submit, requests.status):
    app.command()(command)
app.command("list")(requests.list_)
app.command()(watch.watch)

queue_app = typer.Typer(help="Your queue: show (the default), pause, resume, purge.", invoke_without_command=True)
queue_app.callback()(queue.show_by_default)
for command in (queue.show, queue.pause, queue.resume, queue.purge):
    queue_app.command()(command)
app.add_typer(queue_app, name="queue")

dead_letters_app = typer.Typer(help="Dead letters: list, redrive, discard.", no_args_is_help=True)
dead_letters_app.command("list")(admin.list_dead_letters)
for command in (admin.redrive, admin.discard):
    dead_letters_app.command()(command)
admin_app = typer.Typer(help="Operator commands (role admin).", no_args_is_help=True)
admin_app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(admin_app, name="admin")


def main() -> None:
    """The console script `userq`."""
    app()
