"""A private userq for one test: its own database, its own topics, its own API and worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
from confluent_kafka.admin import AdminClient
from psycopg.conninfo import make_conninfo

from harness.processes import Process, free_port, wait_for_log, wait_ready
from harness.services import Services
from runtime import kafka
from runtime.kafka import ensure_topics
from runtime.settings import CommonSettings
from store.db import migrate

TERMINAL = ("succeeded", "dead_lettered", "cancelled")
PASSWORD = "a long enough password"  # noqa: S105 - what `Client` registers with: it passes the password rules


class Stack:
    def __init__(
        self, services: Services, log_dir: Path, partitions: int = 4, replication_factor: int | None = None
    ) -> None:
        """`replication_factor`: of the topics, when given (else the environment's `REPLICATION_FACTOR`, or 1)."""
        self.services = services
        self.log_dir = log_dir
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self._db_name = f"userq_{self.prefix}"
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute(f'create database "{self._db_name}"'.encode())
        self.database_url = make_conninfo(services.database_url, dbname=self._db_name)
        self.env = {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": services.kafka,
            "TOPIC_PREFIX": self.prefix,
            "REQUEST_PARTITIONS": str(partitions),
            "ENV": "test",
            "LOG_FORMAT": "json",
            "SESSION_TIMEOUT_MS": "6000",
        }
        self.settings = CommonSettings(
            database_url=self.database_url,
            kafka_bootstrap_servers=services.kafka,
            topic_prefix=self.prefix,
            request_partitions=partitions,
        )
        if replication_factor is not None:
            self.env["REPLICATION_FACTOR"] = str(replication_factor)
            self.settings = self.settings.model_copy(update={"replication_factor": replication_factor})
        migrate(self.database_url)
        ensure_topics(self.settings)
        self.processes: list[Process] = []
        self.clients: list[Client] = []
        self._workers = 0

    def client(self, url: str, username: str | None = None, password: str = PASSWORD) -> Client:
        """A registered, logged-in user of the API at `url`, closed with the stack."""
        client = Client(url, username, password)
        self.clients.append(client)
        return client

    def start_api(self, probe: str = "/readyz", **env: str) -> str:
        """An API process; its URL once `probe` answers 200 (`/healthz` for an API without Kafka)."""
        port = free_port()
        api = Process(f"api-{port}", "producer_api", {**self.env, "PORT": str(port), **env}, self.log_dir)
        self.processes.append(api)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, api, probe=probe)
        return url

    def start_worker(self, **env: str) -> Process:
        self._workers += 1
        name = f"worker-{self._workers}"
        worker = Process(name, "stream_worker", {**self.env, "WORKER_ID": name, **env}, self.log_dir)
        self.processes.append(worker)
        wait_for_log(worker, "partitions assigned")
        return worker

    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.database_url, autocommit=True)

    def wait_terminal(self, expected: int, timeout: float = 120, pending: int = 0) -> None:
        """Wait until `expected` requests are terminal and `pending` (by default none) are not."""
        deadline = time.monotonic() + timeout
        done = not_done = 0
        while time.monotonic() < deadline:
            with self.db() as conn:
                row = conn.execute(
                    "select count(*) filter (where status = any(%s)), count(*) filter (where status <> all(%s))"
                    " from requests",
                    (list(TERMINAL), list(TERMINAL)),
                ).fetchone()
            assert row is not None
            done, not_done = row
            if done >= expected and not_done == pending:
                return
            time.sleep(0.25)
        logs = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in self.processes)
        raise AssertionError(f"{done} of {expected} terminal, {not_done} pending after {timeout} s\n{logs}")

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for client in self.clients:
            client.http.close()
        for process in self.processes:
            process.stop()
        if os.environ.get("USERQ_TEST_KEEP"):  # for a post-mortem: keep the database and topics
            print(f"kept database {self._db_name}")
            return
        self._drop_database()
        admin = AdminClient({"bootstrap.servers": self.services.kafka})
        topics = [
            self.settings.requests_topic,
            self.settings.retry_topic,
            self.settings.dlq_topic,
            self.settings.results_topic,
        ]
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result()

    def _drop_database(self, attempts: int = 40) -> None:
        """Drop this test's database; an autovacuum worker in it (which we may not terminate) ends soon."""
        for attempt in range(attempts):
            try:
                with psycopg.connect(self.services.database_url, autocommit=True) as conn:
                    conn.execute(f'drop database if exists "{self._db_name}" with (force)'.encode())
                return
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.25)


class Client:
    """A user of the API: registers, logs in, and sends authenticated calls."""

    def __init__(self, url: str, username: str | None = None, password: str = PASSWORD, register: bool = True) -> None:
        self.username = username or f"u{uuid.uuid4().hex[:12]}"
        self.password = password
        self.http = httpx.Client(base_url=url, timeout=30)
        if register:
            response = self.http.post("/v1/auth/register", json={"username": self.username, "password": password})
            assert response.status_code == 201, response.text
        response = self.http.post("/v1/auth/token", json={"username": self.username, "password": password})
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        self.refresh_token = response.json()["refresh_token"]
        self.user_id = jwt.decode(self.token, options={"verify_signature": False})["sub"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def submit(self, type_: str, payload: dict[str, Any], **headers: str) -> dict[str, Any]:
        response = self.http.post("/v1/requests", json={"type": type_, "payload": payload}, headers=headers)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body


def make_admin(stack: Stack, url: str) -> Client:
    """An admin, made the documented way (`python -m producer_api create-admin`), logged in."""
    username, password = f"admin{uuid.uuid4().hex[:8]}", "an admin password"
    subprocess.run(
        [sys.executable, "-m", "producer_api", "create-admin", username],
        input=password + "\n",
        text=True,
        check=True,
        env={**os.environ, **stack.env},
        capture_output=True,
    )
    client = Client(url, username, password, register=False)
    stack.clients.append(client)
    return client


def consumer_lag(stack: Stack) -> dict[str, int]:
    """Per partition of the requests and retry topics that lags: high watermark minus the committed offset."""
    return {f"{p.topic}[{p.partition}]": p.lag for p in kafka.consumer_lag(stack.settings) if p.lag}
