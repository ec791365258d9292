"""SIGUSR1 makes minked write the stacks of its threads and asyncio tasks to a file under
the exec root and log its path, as dockerd does with its goroutine stacks: what to look at
when a request hangs, without stopping the daemon."""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

log = logging.getLogger("minked")


def install(loop: asyncio.AbstractEventLoop, exec_root: Path) -> None:
    """Answer SIGUSR1 with a dump of every stack in ``exec_root``."""
    loop.add_signal_handler(signal.SIGUSR1, lambda: _dump_logged(exec_root))


def _dump_logged(exec_root: Path) -> None:
    try:
        path = dump(exec_root)
    except OSError as exc:
        log.error("could not write the stack dump: %s", exc)
        return
    log.info("stack dump written to %s", path)


def dump(exec_root: Path) -> Path:
    """Write the stacks of all threads and of all tasks of the running loop; returns the
    file's path (``stacks-<UTC time>.log``, never overwritten)."""
    out = io.StringIO()
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"--- thread {names.get(ident, '?')} ({ident})\n")
        out.write("".join(traceback.format_stack(frame)))
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        out.write(f"--- task {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(file=out)
    stamp = time.strftime("%Y-%m-%dT%H%M%S", time.gmtime())
    exec_root.mkdir(parents=True, exist_ok=True)
    path = exec_root / f"stacks-{stamp}.log"
    n = 1
    while path.exists():
        path = exec_root / f"stacks-{stamp}-{n}.log"
        n += 1
    path.write_text(out.getvalue())
    return path
