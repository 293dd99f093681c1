"""Where the tests' Kafka and PostgreSQL come from, in this order:

1. `USERQ_TEST_KAFKA` and `USERQ_TEST_DATABASE_URL` (a role that may create databases);
2. testcontainers, when a Docker engine answers;
3. the project's own native services, started by `infra/local/*.sh` (and stopped again if we started them).

A missing service is an error, never a skip: a skipped guarantee test is a hidden failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra" / "local"


@dataclass(frozen=True)
class Services:
    kafka: str
    database_url: str
    native: bool  # started from infra/local: the fault tests may stop and restart them


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def _containers() -> Iterator[Services]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka, PostgresContainer("postgres:16") as pg:
        url = pg.get_connection_url(driver=None)
        yield Services(kafka.get_bootstrap_server(), url, native=False)


def native_script(name: str, action: str, *args: str) -> str:
    """Run `infra/local/<name> <action> <args>`; its standard output."""
    command = [str(INFRA / name), action, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"infra/local/{name} {action} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def native_running(name: str, *args: str) -> bool:
    """Whether `infra/local/<name> status <args>` says it runs."""
    return subprocess.run([str(INFRA / name), "status", *args], capture_output=True, timeout=60).returncode == 0


@contextmanager
def _native() -> Iterator[Services]:
    with ExitStack() as stack:
        for script in ("postgres.sh", "kafka.sh"):
            if not native_running(script):
                native_script(script, "start")
                stack.callback(native_script, script, "stop")
        port = os.environ.get("USERQ_PG_PORT", "55432")
        kafka_port = os.environ.get("USERQ_KAFKA_PORT", "9092")
        yield Services(f"127.0.0.1:{kafka_port}", f"postgresql://userq:userq@127.0.0.1:{port}/userq", native=True)


@contextmanager
def provide() -> Iterator[Services]:
    kafka, database_url = os.environ.get("USERQ_TEST_KAFKA"), os.environ.get("USERQ_TEST_DATABASE_URL")
    if kafka and database_url:
        yield Services(kafka, database_url, native=False)
    elif _docker_answers():
        with _containers() as services:
            yield services
    else:
        with _native() as services:
            yield services
