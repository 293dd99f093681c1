"""`python -m producer_api`: serve the API with uvicorn on HOST:PORT.

`python -m producer_api create-admin USERNAME` creates the first admin (or makes an existing user one);
the password is read from standard input, or prompted for on a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import sys

import uvicorn
from pydantic import ValidationError

from producer_api.app import create_app
from producer_api.models import Registration
from producer_api.passwords import WeakPassword
from producer_api.services.users import create_admin
from producer_api.settings import ApiSettings
from userq.db import migrate
from userq.logs import configure_logging


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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )
    return 0


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
