"""asyncio helpers the daemon's background loops share."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import Any

log = logging.getLogger(__name__)

# How long a cancelled task may take to end before it is cancelled again (and said so).
CANCEL_AGAIN = 10.0


async def cancel(task: asyncio.Future[Any] | None, *, again_after: float = CANCEL_AGAIN) -> None:
    """Cancel ``task`` and wait until it has ended, so nothing it holds outlives its owner's
    ``stop``; its CancelledError stays inside. None, or the calling task itself, is left.

    Cancellation is delivered once, and code can lose it (Python 3.11's ``wait_for`` does
    when the inner await completes at the same moment), after which a loop runs on and the
    owner's ``stop`` would wait forever. So, as trio's level-triggered cancellation, a task
    still running ``again_after`` seconds later is cancelled again, with its stack logged:
    the hang becomes a warning that names its place."""
    if task is None or task is asyncio.current_task():
        return
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=again_after)
        if not task.done():
            stack = io.StringIO()
            task.print_stack(file=stack)
            log.warning("%s still runs %.0f s after it was cancelled; cancelling it again\n%s",
                        task, again_after, stack.getvalue())
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
