"""What the leader runs (one manager: this node): the reconcilers over the store, each
watching it and writing only through it, so that a restarted leader resumes from the store
with nothing duplicated or lost."""

from __future__ import annotations

from minke.swarm.manager.orchestrator import Orchestrator
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.manager.scheduler import Scheduler
from minke.swarm.manager.updater import Updater
from minke.swarm.store import Store


class Leader:
    def __init__(self, store: Store) -> None:
        self.reconcilers: list[Reconciler] = [Orchestrator(store), Scheduler(store),
                                              Updater(store)]

    def start(self) -> None:
        for reconciler in self.reconcilers:
            reconciler.start()

    async def stop(self) -> None:
        for reconciler in self.reconcilers:
            await reconciler.stop()
