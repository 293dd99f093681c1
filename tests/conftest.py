from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import Services, provide
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with provide() as found:
        yield found


@pytest.fixture
def stack(services: Services, tmp_path: Path) -> Iterator[Stack]:
    created = Stack(services, tmp_path)
    try:
        yield created
    finally:
        created.close()


@pytest.fixture
def api(stack: Stack) -> str:
    """The URL of an API process on this test's stack (no worker)."""
    return stack.start_api()
