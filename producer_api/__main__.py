"""`python -m producer_api`: serve the API with uvicorn on HOST:PORT, in API_WORKERS processes.

`python -m producer_api create-admin USERNAME` creates the first admin (or makes an existing user one);
the password is read from standard input, or prompted for on a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from producer_api.app import create_app
from producer_api.errors import WeakPassword
from producer_api.models import Registration
from producer_api.services.users import create_admin
from producer_api.settings import ApiSettings
from runtime.logs import configure_logging
from store.db import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m producer_api", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    admin = commands.add_parser("create-admin", help="create an admin user (password from stdin)")
    admin.add_argument("username")
    args = parser.parse_args(argv)
    settings = ApiSettings()
    if args.command == "create-admin":
        return _create_admin(settings, args.username)
    configure_logging(settings.log_level, settings.log_format, service="producer_api")
    options = uvicorn_options(settings)
    if settings.api_workers == 1:
        _clear_metrics_of_earlier_runs()
        uvicorn.run(create_app(settings), **options)
        return 0
    with _metrics_dir():  # the worker processes inherit it, and import the client after it is set
        uvicorn.run("producer_api.__main__:worker_app", factory=True, workers=settings.api_workers, **options)
    return 0


def uvicorn_options(settings: ApiSettings) -> dict[str, Any]:
    """How the API is served: no access log (the metrics count requests), no proxy headers trusted."""
    return {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,
        "log_config": None,
        "proxy_headers": False,
    }


def worker_app() -> FastAPI:
    """The app of one of several uvicorn worker processes (`API_WORKERS`), which import it by name."""
    settings = ApiSettings()
    configure_logging(settings.log_level, settings.log_format, service="producer_api")
    return create_app(settings)


@contextmanager
def _metrics_dir() -> Iterator[None]:
    """`PROMETHEUS_MULTIPROC_DIR`, cleared of an earlier run's files; when unset, a temporary directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _clear_metrics_of_earlier_runs()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="userq-api-metrics-") as path:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        yield


def _clear_metrics_of_earlier_runs() -> None:
    """Delete the files that processes of an earlier run left in `PROMETHEUS_MULTIPROC_DIR` (their
    counters would be added to ours); keep this process's own, which the client may have opened."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        return
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        if not file.name.endswith(f"_{os.getpid()}.db"):
            file.unlink(missing_ok=True)


def _create_admin(settings: ApiSettings, username: str) -> int:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        Registration(username=username, password=password)
    except ValidationError as exc:
        print(f"refused: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    migrate(settings.database_url)
    try:
        user_id = create_admin(settings.database_url, username, password)
    except (PermissionError, WeakPassword) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"{username} is an admin (user_id {user_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
