"""A real browser for journey tests: Debian's Chromium driven by Playwright.

Playwright's own browser download is not used (and not available offline), so the system Chromium
is launched by path; NONGSAN_CHROMIUM overrides it. Every page records the URLs it requested, so a
test can assert the page talked to nobody but the service under test.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("NONGSAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chromium() -> Iterator["object"]:
    """A launched Chromium (playwright.sync_api.Browser); skips the test when none is installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set NONGSAN_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class RecordingPage:
    """A fresh browser context and page that keeps the URL of every request it makes."""

    def __init__(self, browser, *, locale: str = "vi-VN") -> None:
        self.context = browser.new_context(locale=locale)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def hosts(self) -> set[str]:
        return {urlsplit(url).hostname or url for url in self.requests}

    def close(self) -> None:
        self.context.close()
