"""The tiers, and the services and stacks the tests that need them ask for.

A test's tier is the first folder under `tests/` it sits in; its marker (`pytest -m unit`, ...) is set
here from that folder, and a test outside every tier is an error. A run takes the tiers in `TIERS`
order, the unit tier first. The services are started (or found) only when a test asks for `services`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services import Services, provide
from harness.stack import Stack
from tests.support.scenario import RESULTS

TESTS = Path(__file__).parent
TIERS = ("unit", "integration", "e2e", "faults", "tooling")


def tier_of(path: Path) -> str | None:
    """The tier of the test file at `path`: its first folder under `tests/`, if that is a tier."""
    if not path.is_relative_to(TESTS):
        return None
    relative = path.relative_to(TESTS).as_posix()
    first = relative.split("/", 1)[0]
    return first if first in TIERS else None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        tier = tier_of(item.path)
        by_hand = {mark.name for mark in item.iter_markers() if mark.name in TIERS} - {tier}
        if tier is None:
            problems.append(f"{item.nodeid}: outside every tier; move it under tests/{{{','.join(TIERS)}}}/")
        elif by_hand:
            problems.append(f"{item.nodeid}: marked {sorted(by_hand)} by hand in tests/{tier}/")
        else:
            item.add_marker(getattr(pytest.mark, tier))
    if problems:
        raise pytest.UsageError("\n".join(problems[:20]))
    items.sort(key=lambda item: TIERS.index(tier_of(item.path) or TIERS[0]))  # stable: files stay whole


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
