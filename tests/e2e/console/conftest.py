"""A real browser for the console tests: Debian's Chromium (`CHROMIUM`, /usr/bin/chromium by default),
driven by Playwright, headless. Playwright's own browser download is never used: CI installs Chromium
from Debian's packages with `infra/local/chromium.sh`, as `docs/diagrams/render.sh` does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Screenshots for the README: `USERQ_SCREENSHOTS=docs pytest tests/e2e/console` writes them there.
SCREENSHOTS = os.environ.get("USERQ_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():  # an error, never a skip: a skipped guarantee test is a hidden failure
        pytest.fail(f"no Chromium at {CHROMIUM}: run infra/local/chromium.sh as root (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


class Watched:
    """A page and what went wrong in it: uncaught errors and Content-Security-Policy refusals."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        # a 4xx the console expects (a 403 that says "not an operator") is logged as "Failed to load resource"
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(message.text)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    yield Watched(context.new_page())
    context.close()


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Save the page as `name` (a PNG) in `USERQ_SCREENSHOTS` when set, else in the test's directory."""
    target = Path(SCREENSHOTS) / name if SCREENSHOTS else tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    return target
