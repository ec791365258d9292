"""The loop every reconciler runs (SwarmKit's orchestrators, scheduler and updater share
it in spirit): read the store, compute desired against actual, write, and run again when
the store changes or a timer it asked for is due.

Level-triggered on purpose: a pass looks at everything it owns, so a pass after a restart,
after missed wake-ups or after a failed write converges just the same; the store's watch
only says *when* to look again. Writes go through ``store.update`` in one transaction per
pass, which makes a pass all-or-nothing.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Iterable

from minke.aio import cancel
from minke.swarm.store import Compacted, Store

log = logging.getLogger(__name__)

RETRY = 0.5  # seconds before a pass that failed runs again


class Reconciler(abc.ABC):
    """Subclasses set ``name`` and ``kinds`` and implement ``reconcile``."""

    name = "reconciler"
    kinds: Iterable[str] = ()

    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"swarm-{self.name}")

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for task in (self._watch_task, self._task):
            await cancel(task)
        self._task = self._watch_task = None

    def kick(self, delay: float = 0.0) -> None:
        """Run a pass now, or after ``delay`` seconds."""
        if delay <= 0:
            self._wake.set()
            return
        loop = asyncio.get_running_loop()
        self._timers = [h for h in self._timers if not h.cancelled() and h.when() > loop.time()]
        self._timers.append(loop.call_later(delay, self._wake.set))

    async def _watch(self, since: int) -> None:
        while True:
            try:
                async for _event in self.store.watch(self.kinds, since=since):
                    self._wake.set()
                return
            except Compacted:
                # The history since our index is gone (etcd compacted it): a full pass
                # (level-triggered) sees all that changed; watch on from now.
                since = await self.store.view(lambda tx: tx.index)
                self._wake.set()

    async def _run(self) -> None:
        index = await self.store.view(lambda tx: tx.index)
        self._watch_task = asyncio.create_task(self._watch(index), name=f"{self.name}-watch")
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("swarm %s: pass failed", self.name)
                self.kick(RETRY)

    @abc.abstractmethod
    async def reconcile(self) -> None:
        """One pass: read the store, compare desired with actual, write the difference."""
