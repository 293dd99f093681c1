"""The unit tier needs nothing outside the process: a test that connects a socket, opens a PostgreSQL
connection or starts a process fails here, with what it tried. (Binding a local port, as `free_port`
does, and an event loop's own socket pair stay allowed: neither reaches anything.)"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import NoReturn

import psycopg
import pytest


class NotAUnitTest(AssertionError):
    """Raised by whatever a unit test must not do: move the test to tests/integration or further."""


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise NotAUnitTest(f"a unit test {what}: {args[1:] or args}"[:300])

    return refuse


@pytest.fixture(autouse=True, scope="module")  # module scope: it also holds for module-scoped fixtures
def nothing_outside_the_process() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse("connected a socket"))
        patch.setattr(socket.socket, "connect_ex", _refuse("connected a socket"))
        patch.setattr(subprocess.Popen, "__init__", _refuse("started a process"))
        patch.setattr(psycopg, "connect", _refuse("connected to PostgreSQL"))
        patch.setattr(psycopg.Connection, "connect", classmethod(_refuse("connected to PostgreSQL")))
        patch.setattr(psycopg.AsyncConnection, "connect", classmethod(_refuse("connected to PostgreSQL")))
        yield
