"""Operator commands: `python -m runtime migrate | topics | setup`."""

from __future__ import annotations

import argparse
import sys

from runtime.kafka import ensure_topics
from runtime.logs import configure_logging
from runtime.settings import CommonSettings
from store.db import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__)
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
