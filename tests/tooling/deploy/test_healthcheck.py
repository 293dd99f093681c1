"""docker/healthcheck.py, the images' HEALTHCHECK, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.services import ROOT

SCRIPT = ROOT / "docker" / "healthcheck.py"
STATUS = {"/healthz": 200, "/readyz": 503, "/metrics": 204}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(STATUS.get(self.path, 404))
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def check(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthy_on_2xx(port: int) -> None:
    assert check("PORT", "/healthz", env={"PORT": str(port)}).returncode == 0
    assert check("METRICS_PORT", "/metrics", env={"METRICS_PORT": str(port)}).returncode == 0


def test_unhealthy_on_an_error_status(port: int) -> None:
    done = check("PORT", "/readyz", env={"PORT": str(port)})
    assert done.returncode == 1 and "answered 503" in done.stderr
    assert check("PORT", "/nowhere", env={"PORT": str(port)}).returncode == 1


def test_unhealthy_when_nothing_listens() -> None:
    done = check("PORT", "/healthz", env={"PORT": str(free_port())})
    assert done.returncode == 1 and "unhealthy" in done.stderr


@pytest.mark.parametrize("value", [None, "", "0", "http", "70000"])
def test_unhealthy_without_a_port(value: str | None) -> None:
    env = {} if value is None else {"METRICS_PORT": value}
    done = check("METRICS_PORT", "/metrics", env=env)
    assert done.returncode == 1 and "is not a port" in done.stderr


def test_usage() -> None:
    assert check("PORT", env={}).returncode == 2
    assert check("PORT", "healthz", env={"PORT": "3000"}).returncode == 2
