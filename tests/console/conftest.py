"""The console's browser and where its screenshots go."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from tests.console.browser import CHROMIUM, launch

_written: list[Path] = []


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: scripts/install installs Debian's chromium when run as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        found = await launch(playwright)
        yield found
        await found.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    """Screenshots of every page the browser tests see, kept after the run: BREAKWATER_CONSOLE_SHOTS,
    else `bw-console-shots` in the tests' temporary directory (the last run's; named at the end)."""
    given = os.environ.get("BREAKWATER_CONSOLE_SHOTS")
    base = Path(os.environ.get("BREAKWATER_TEST_TMP", tempfile.gettempdir()))
    folder = Path(given) if given else base / "bw-console-shots"
    folder.mkdir(parents=True, exist_ok=True)
    if not given:
        for old in folder.glob("*.png"):
            old.unlink()
    _written.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _written:
        count = len(list(folder.glob("*.png")))
        terminalreporter.write_line(f"console screenshots: {count} in {folder}")
