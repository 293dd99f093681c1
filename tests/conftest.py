from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services import Services, provide
from harness.stack import Stack
from tests.support.scenario import RESULTS


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with provide() as found:
        yield found


@pytest.fixture
def stack(services: Services, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A private userq: own database and topics (4 partitions; `@pytest.mark.partitions(n)` for others)."""
    marker = request.node.get_closest_marker("partitions")
    with Stack(services, tmp_path, partitions=marker.args[0] if marker else 4) as created:
        yield created


@pytest.fixture(scope="module")
def module_stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One private userq (4 partitions) shared by a module's tests, for the many that only need an API."""
    with Stack(services, tmp_path_factory.mktemp("stack")) as created:
        yield created


@pytest.fixture
def api(stack: Stack) -> str:
    """The URL of an API process on this test's stack (no worker)."""
    return stack.start_api()


@pytest.fixture(scope="module")
def module_api(module_stack: Stack) -> str:
    """The URL of an API process (default settings, no worker) shared by a module's tests."""
    return module_stack.start_api()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("fault scenarios")
        for line in RESULTS:
            terminalreporter.write_line(line)
