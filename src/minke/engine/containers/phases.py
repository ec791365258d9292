"""Durations of the steps of one lifecycle operation (create, start, exit, remove), logged at
debug level as one line per operation, so that ``minked -l debug`` shows where a
``docker run`` spends its time without a profiler.

Each extension hook is timed on its own (``phase(name)`` with the extension's class name),
which is what makes a slow extension visible.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("minke.engine.containers.phases")


class Phases:
    """Marks taken as an operation goes; ``done`` logs them. Costs a clock read per mark."""

    def __init__(self, operation: str) -> None:
        self._operation = operation
        self._start = self._last = time.perf_counter()
        self._marks: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        """The step ``name`` ended now; it began at the previous mark."""
        now = time.perf_counter()
        self._marks.append((name, now - self._last))
        self._last = now

    def done(self, container_id: str) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        total = time.perf_counter() - self._start
        steps = " ".join(f"{name}={seconds * 1000:.1f}" for name, seconds in self._marks)
        log.debug("%s %s: %.1f ms (%s)", self._operation, container_id[:12], total * 1000,
                  steps)
