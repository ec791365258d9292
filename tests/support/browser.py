"""Debian's chromium, headless, driven by Playwright's Python API: what the dashboard's
end-to-end tests and its screenshot share. Playwright's own browser downloads are never
used (no ``playwright install``): the browser is the system's ``/usr/bin/chromium``."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Chromium aborts requests in flight when the host's interfaces change (it watches netlink);
# on a test host other tests add and remove bridges and veths all the time. Such an abort is
# the environment's, not the page's: it is kept apart from the page's errors.
NETWORK_CHANGED = "ERR_NETWORK_CHANGED"
READY = "body[data-ready='1'][data-live='1']"  # a page's data on screen, its events open


@dataclass
class Console:
    """What pages wrote to the console as errors, and uncaught exceptions; requests the
    browser aborted because the host's network changed are counted apart."""

    errors: list[str] = field(default_factory=list)
    network_changes: int = 0

    def watch(self, page) -> None:  # type: ignore[no-untyped-def]
        page.on("console", lambda m: self._error(f"{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda exc: self._error(f"pageerror: {exc}"))
        # a module script cut off this way fails without a console message
        page.on("requestfailed", lambda r: self._failed(r.failure or ""))

    def _failed(self, failure: str) -> None:
        if NETWORK_CHANGED in failure:
            self.network_changes += 1

    def _error(self, text: str) -> None:
        if NETWORK_CHANGED in text:
            self.network_changes += 1
        else:
            self.errors.append(text)


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright ``Browser`` on the system's chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def goto(page: Any, url: str) -> None:
    """``page.goto``, again if the host's network changed under it."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(3):
        try:
            page.goto(url)
            return
        except PlaywrightError as exc:
            if NETWORK_CHANGED not in str(exc) or attempt == 2:
                raise


def wait_ready(page: Any, selector: str = READY, timeout: float = 30.0) -> None:
    """Wait until the page's data is on screen and its event stream is open (``timeout``
    seconds at most), reloading it if the host's network changed under its requests; a
    failure says what the page showed and logged. The page needs a ``console`` attribute
    (a ``Console`` watching it)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    console: Console = page.console
    deadline = time.monotonic() + timeout
    changes = console.network_changes
    while time.monotonic() < deadline:
        try:
            page.wait_for_selector(selector, timeout=1000)
            return
        except PlaywrightTimeout:
            if console.network_changes != changes:
                changes = console.network_changes
                page.reload()
    raise AssertionError(
        f"{page.url} not ready: body {page.evaluate('() => ({...document.body.dataset})')}, "
        f"main {page.inner_text('main')[:500]!r}, console {console.errors}")
