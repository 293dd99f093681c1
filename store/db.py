"""PostgreSQL plumbing: connection settings and versioned migrations (`python -m runtime migrate`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import orjson
import psycopg
import structlog
from psycopg.abc import AdaptContext
from psycopg.types.json import set_json_dumps, set_json_loads

log = structlog.get_logger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Every process may migrate at start-up; the lock makes concurrent starts take turns.
_MIGRATION_LOCK = 0x75736571  # "useq"


def use_orjson(context: AdaptContext) -> None:
    """JSON columns and parameters of `context` (a connection) through orjson: several times faster than
    the standard library, which matters where a batch writes hundreds of results at once."""
    set_json_dumps(orjson.dumps, context)
    set_json_loads(orjson.loads, context)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged migrations in version order."""
    found = []
    for entry in resources.files("store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if len({m.version for m in found}) != len(found):
        raise RuntimeError("two migrations share a version number")
    return found


def migrate(database_url: str) -> list[int]:
    """Apply the migrations not yet recorded, each in its own transaction; return the versions applied."""
    applied: list[int] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("""
            create table if not exists schema_migrations (
                version integer primary key,
                name text not null,
                applied_at timestamptz not null default now())
        """)
        for migration in migrations():
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                done = conn.execute(
                    "select 1 from schema_migrations where version = %s", (migration.version,)
                ).fetchone()
                if done:
                    continue
                conn.execute(migration.sql.encode())
                conn.execute(
                    "insert into schema_migrations (version, name) values (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration.version)
                log.info("migration applied", version=migration.version, name=migration.name)
    return applied
