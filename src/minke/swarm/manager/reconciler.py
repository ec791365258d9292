"""The loop every reconciler runs (SwarmKit's orchestrators, scheduler and updater share
it in spirit): read the store, compute desired against actual, write, and run again when
the store changes or a timer it asked for is due.

Level-triggered on purpose: a pass looks at everything it owns, so a pass after a restart,
after missed wake-ups or after a failed write converges just the same; the store's watch
only says *when* to look again. Writes go through ``store.update`` in one transaction per
pass, which makes a pass all-or-nothing.

A pass costs a read of what the reconciler owns, so the watch wakes it only for what can
change its outcome: events its ``relevant`` accepts (by default all), and not those the last
committed pass already saw (``covered``: its own writes, and what others wrote before its
transaction). Without that, every write of a busy cluster (each task's state reports) costs
every reconciler a pass over all tasks, and its own writes one more.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Iterable

from minke.aio import cancel
from minke.swarm.store import Compacted, Event, Store

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
        self._covered = 0  # the store index the last committed pass reflected
        self._due = 0  # the newest relevant event index that woke us since the last pass
        self._kicked = False  # woken by kick() (a timer, a retry): always run the pass

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
            self._kicked = True
            self._wake.set()
            return
        loop = asyncio.get_running_loop()
        self._timers = [h for h in self._timers if not h.cancelled() and h.when() > loop.time()]
        self._timers.append(loop.call_later(delay, self.kick))

    def relevant(self, event: Event) -> bool:
        """Whether ``event`` may change what a pass does (subclasses narrow it)."""
        return True

    def covered(self, index: int) -> None:
        """The pass that just committed saw the store at ``index`` (with its own writes):
        events up to it need no further pass."""
        self._covered = max(self._covered, index)

    async def _watch(self, since: int) -> None:
        while True:
            try:
                async for event in self.store.watch(self.kinds, since=since):
                    since = event.index
                    if event.index > self._covered and self.relevant(event):
                        self._due = max(self._due, event.index)
                        self._wake.set()
                return
            except Compacted:
                # The history since our index is gone (etcd compacted it): a full pass
                # (level-triggered) sees all that changed; watch on from now.
                since = await self.store.view(lambda tx: tx.index)
                self.kick()

    async def _run(self) -> None:
        index = await self.store.view(lambda tx: tx.index)
        self._watch_task = asyncio.create_task(self._watch(index), name=f"{self.name}-watch")
        self.kick()
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._kicked, self._due = False, 0
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("swarm %s: pass failed", self.name)
                self.kick(RETRY)
            # Woken meanwhile only by events the pass's transaction already saw (its own
            # writes among them): nothing new to look at.
            if self._wake.is_set() and not self._kicked and 0 < self._due <= self._covered:
                self._wake.clear()

    @abc.abstractmethod
    async def reconcile(self) -> None:
        """One pass: read the store, compare desired with actual, write the difference."""
