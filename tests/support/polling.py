"""Polling a condition with a deadline: what tests do instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEADLINE = 60.0  # s a polled condition may take on a loaded 2-core machine


def wait_for(what: str, condition: Callable[[], Any], deadline: float = DEADLINE,
             interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something true and return that; fail naming
    ``what`` once ``deadline`` seconds have passed."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
