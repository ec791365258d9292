"""What the leader runs: the reconcilers over the store, each watching it and writing only
through it, so that a restarted or newly elected leader resumes from the store with
nothing duplicated or lost.

On the SQLite store there is one manager and it is always the leader. On etcd, managers
campaign (``election.py``); the winner runs the reconcilers on a *fenced* view of the
store (its writes fail once it is deposed), stops them when it loses its lease, and
campaigns again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from minke.aio import cancel
from minke.swarm.manager.dispatcher import mark_down
from minke.swarm.manager.orchestrator import Orchestrator
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.manager.scheduler import Scheduler
from minke.swarm.manager.updater import Updater
from minke.swarm.network.allocator import NetworkAllocator
from minke.swarm.store import Store, Tx

log = logging.getLogger(__name__)

RECAMPAIGN = 0.5  # seconds before campaigning again after the store failed ...
MAX_RECAMPAIGN = 5.0  # ... doubling up to this while it keeps failing


def reconcilers(store: Store) -> list[Reconciler]:
    return [Orchestrator(store), NetworkAllocator(store), Scheduler(store), Updater(store)]


class Leader:
    """Runs the reconcilers while this manager leads. ``node_id`` names it in the
    election; ``lease_ttl`` is the leader lease (etcd only; ``election.DEFAULT_TTL``)."""

    def __init__(self, store: Store, node_id: str = "", *, lease_ttl: float | None = None,
                 make: Callable[[Store], list[Reconciler]] = reconcilers) -> None:
        self.store = store
        self.node_id = node_id
        self.lease_ttl = lease_ttl
        self._make = make
        self.reconcilers: list[Reconciler] = []
        self.is_leader = False
        self.terms = 0  # how many times this manager became leader
        self.election: Any = None
        self._task: asyncio.Task[None] | None = None
        self._tracker: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not hasattr(self.store, "fenced"):  # SQLite: the only manager
            self._lead(self.store)
            return
        from minke.swarm.manager.election import DEFAULT_TTL, Election  # grpc: etcd only
        self.election = Election(self.store, self.node_id,  # type: ignore[arg-type]
                                 self.lease_ttl or DEFAULT_TTL)
        self._task = asyncio.create_task(self._campaign(), name="swarm-election")

    def _lead(self, store: Store) -> None:
        self.reconcilers = self._make(store)
        for reconciler in self.reconcilers:
            reconciler.start()
        self.is_leader = True
        self.terms += 1

    async def _follow(self) -> None:
        self.is_leader = False
        await cancel(self._tracker)
        self._tracker = None
        for reconciler in self.reconcilers:
            await reconciler.stop()
        self.reconcilers = []

    async def _campaign(self) -> None:
        pause = RECAMPAIGN
        while True:
            try:
                fence = await self.election.campaign()
                pause = RECAMPAIGN
                fenced = self.store.fenced(fence)  # type: ignore[attr-defined]
                log.info("swarm: this manager (%s) is the leader", self.node_id)
                self._lead(fenced)
                self._tracker = asyncio.create_task(self._track_managers(fenced),
                                                    name="swarm-managers")
                await self.election.lost.wait()
                log.warning("swarm: this manager (%s) lost the leadership", self.node_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down or we were deposed: try again
                log.warning("swarm: leader election: %s (again in %.1f s)", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RECAMPAIGN)
            finally:
                await self._follow()

    async def _track_managers(self, store: Store) -> None:
        """While leading: the manager nodes' ``ManagerStatus`` (``Leader``,
        ``Reachability``) follows the managers' sessions, as ``docker node ls`` shows it."""
        lost = asyncio.ensure_future(self.election.lost.wait())
        try:
            while not lost.done():
                try:
                    present, revision = await self.election.reachable()
                    await store.update(lambda tx, p=present: self._mark_managers(tx, p))
                    await self.election.changes(revision, lost)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # deposed, or the store is down: the campaign decides
                    log.warning("swarm: manager status: %s", exc)
                    await asyncio.sleep(RECAMPAIGN)
        finally:
            lost.cancel()

    def _mark_managers(self, tx: Tx, present: set[str]) -> None:
        """Managers have no heartbeat with the dispatcher: their store session is their
        proof of life. One whose session is gone is Down (its tasks orphaned and replaced,
        as for a worker that stops heartbeating); back, it is ready again."""
        for node in tx.list("node"):
            status = node.get("ManagerStatus")
            if status is None:
                continue
            reachable = node["ID"] in present
            want = {**status, "Leader": node["ID"] == self.node_id,
                    "Reachability": "reachable" if reachable else "unreachable"}
            if want != status:
                node["ManagerStatus"] = want
                tx.update("node", node)
            state = (node.get("Status") or {}).get("State")
            if not reachable and state == "ready":
                mark_down(tx, node["ID"], "manager unreachable: its store session expired")
            elif reachable and state == "down":
                node = tx.get("node", node["ID"])
                node["Status"] = {**node["Status"], "State": "ready", "Message": ""}
                tx.update("node", node)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel(self._task)
            self._task = None
            with contextlib.suppress(Exception):
                await self.election.resign()
        await self._follow()
