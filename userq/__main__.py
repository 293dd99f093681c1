"""Operator commands: `python -m userq migrate | topics`."""

from __future__ import annotations

import argparse
import sys

from userq.db import migrate
from userq.kafka import ensure_topics
from userq.logs import configure_logging
from userq.settings import CommonSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m userq", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("topics", help="create the Kafka topics when missing")
    commands.add_parser("setup", help="migrate and create topics")
    args = parser.parse_args(argv)

    settings = CommonSettings()
    configure_logging(settings.log_level, "console")
    if args.command in ("migrate", "setup"):
        migrate(settings.database_url)
    if args.command in ("topics", "setup"):
        ensure_topics(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
