from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scenario import RESULTS
from tests.support.services import Services, provide
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with provide() as found:
        yield found


@pytest.fixture
def stack(services: Services, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A private userq: own database and topics (4 partitions; `@pytest.mark.partitions(n)` for others)."""
    marker = request.node.get_closest_marker("partitions")
    created = Stack(services, tmp_path, partitions=marker.args[0] if marker else 4)
    try:
        yield created
    finally:
        created.close()


@pytest.fixture
def api(stack: Stack) -> str:
    """The URL of an API process on this test's stack (no worker)."""
    return stack.start_api()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("fault scenarios")
        for line in RESULTS:
            terminalreporter.write_line(line)
