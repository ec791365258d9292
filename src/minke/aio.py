"""asyncio helpers the daemon's background loops share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(task: asyncio.Future[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended, so nothing it holds outlives its owner's
    ``stop``; its CancelledError stays inside. None, or the calling task itself, is left."""
    if task is None or task is asyncio.current_task():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
