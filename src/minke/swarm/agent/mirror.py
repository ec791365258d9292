"""A worker's copy of the cluster state its agent needs, kept from the dispatcher's
session stream, behind the same ``Store`` interface the manager's agent reads: so one
executor (``executor.py``) and one data path (``networks.py``) run a manager's tasks on
the real store and a worker's on this mirror.

- The copy is an in-memory SQLite store (nothing reaches the disk); secrets and configs
  arrive opened and are sealed again at once with a key that lives only in this process.
- ``load`` replaces the copy with a session's snapshot and ``apply`` applies its changes;
  both emit the usual store events, so watchers (the executor, the networks) see exactly
  what changed, also across a reconnection.
- The agent's own writes (``update``) may only move its tasks' ``Status``: they change the
  copy at once, as the executor expects, and are queued for the manager (``reports``).
  A task's status in the copy only ever moves forward: a manager's copy that has not yet
  seen the agent's last report does not take it back.

For the data path (the networking side), the copy holds every node (``Status.Addr`` and
``_DataPathAddr``: its underlay address), network, service (``Endpoint`` with its VIPs)
and task (``NodeID``, ``Status``, ``NetworksAttachments``) of the cluster.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from minke import errors
from minke.swarm.ca import DataKey
from minke.swarm.manager import tasks as t
from minke.swarm.manager.secrets import SEALED
from minke.swarm.store import DELETE, Event, Obj, ReadTx, SQLiteStore, Store, Tx
from minke.swarm.store.store import KINDS, T

READ_ONLY = ("This node is not a swarm manager: its copy of the cluster state changes only "
             "through its manager")


class _AgentTx:
    """The agent's transaction on the copy: reads anything, updates tasks only."""

    def __init__(self, tx: Tx, reported: list[Obj]) -> None:
        self._tx, self._reported = tx, reported

    @property
    def index(self) -> int:
        return self._tx.index

    def get(self, kind: str, id: str) -> Obj | None:
        return self._tx.get(kind, id)

    def list(self, kind: str) -> list[Obj]:
        return self._tx.list(kind)

    def find(self, kind: str, **by: Any) -> list[Obj]:
        return self._tx.find(kind, **by)

    def create(self, kind: str, obj: Obj) -> Obj:
        raise errors.Unavailable(READ_ONLY)

    def delete(self, kind: str, id: str) -> Obj:
        raise errors.Unavailable(READ_ONLY)

    def update(self, kind: str, obj: Obj) -> Obj:
        if kind != "task":
            raise errors.Unavailable(READ_ONLY)
        stored = self._tx.update(kind, obj)
        self._reported.append(stored)
        return stored


class MirrorStore(Store):
    def __init__(self) -> None:
        self.local = SQLiteStore(Path(":memory:"))
        self.key = DataKey.generate()  # seals the payloads in memory; never written
        # task ID → its latest Status not yet acknowledged by the manager
        self.reports: dict[str, Obj] = {}
        self.reported = asyncio.Event()

    # -- the Store interface ------------------------------------------------------------

    async def view(self, fn: Callable[[ReadTx], T]) -> T:
        return await self.local.view(fn)

    async def update(self, fn: Callable[[Tx], T]) -> T:
        reported: list[Obj] = []
        result = await self.local.update(lambda tx: fn(_AgentTx(tx, reported)))  # type: ignore[arg-type]
        for task in reported:
            self.reports[task["ID"]] = task["Status"]
        if reported:
            self.reported.set()
        return result

    def watch(self, kinds: Iterable[str], since: int | None = None) -> AsyncIterator[Event]:
        return self.local.watch(kinds, since=since)

    async def close(self) -> None:
        await self.local.close()

    # -- the manager's side -------------------------------------------------------------

    def take_reports(self) -> dict[str, Obj]:
        reports, self.reports = self.reports, {}
        self.reported.clear()
        return reports

    def return_reports(self, reports: dict[str, Obj]) -> None:
        """Reports that did not reach the manager: sent again (newer ones win)."""
        self.reports = {**reports, **self.reports}
        self.reported.set()

    async def load(self, objects: dict[str, list[Obj]]) -> None:
        """Make the copy the snapshot ``objects`` (kind → objects)."""
        wanted = {kind: {o["ID"]: self._incoming(kind, o) for o in objects.get(kind) or []}
                  for kind in KINDS}

        def replace(tx: Tx) -> dict[str, Obj]:
            for kind in KINDS:  # deletions first: a new object may reuse a name
                for obj in tx.list(kind):
                    if obj["ID"] not in wanted[kind]:
                        tx.delete(kind, obj["ID"])
            ahead = {}
            for kind in KINDS:
                for obj in wanted[kind].values():
                    kept = _upsert(tx, kind, obj)
                    if kept is not None:
                        ahead[obj["ID"]] = kept
            return ahead
        # What the manager has not heard yet (reports lost with the last session) goes
        # to it again: this copy keeps the further status, so nothing else would send it.
        ahead = await self.local.update(replace)
        if ahead:
            self.return_reports(ahead)

    async def apply(self, changes: list[Obj]) -> None:
        """Apply a session's ``changes`` (``Kind``, ``Action``, ``Object``) in order."""
        prepared = [(c["Kind"], c["Action"], self._incoming(c["Kind"], c["Object"]))
                    for c in changes if c.get("Kind") in KINDS]

        def write(tx: Tx) -> None:
            for kind, action, obj in prepared:
                if action == DELETE:
                    if tx.get(kind, obj["ID"]) is not None:
                        tx.delete(kind, obj["ID"])
                else:
                    _upsert(tx, kind, obj)
        await self.local.update(write)

    def _incoming(self, kind: str, obj: Obj) -> Obj:
        obj = dict(obj)
        if "PlainData" in obj:
            obj[SEALED] = self.key.seal(base64.b64decode(obj.pop("PlainData")))
        return obj


def _upsert(tx: Tx, kind: str, obj: Obj) -> Obj | None:
    """Store the manager's ``obj``; a task keeps the further of the two statuses. Returns
    the status kept when it is further than the manager's, else None."""
    local = tx.get(kind, obj["ID"])
    if local is None:
        tx.create(kind, obj)
        return None
    kept = None
    if kind == "task" and t.rank(local["Status"]["State"]) > t.rank(obj["Status"]["State"]):
        obj = {**obj, "Status": local["Status"]}
        kept = local["Status"]
    if {k: v for k, v in obj.items() if k not in ("Version", "CreatedAt", "UpdatedAt")} != \
            {k: v for k, v in local.items() if k not in ("Version", "CreatedAt", "UpdatedAt")}:
        tx.update(kind, {**obj, "Version": local["Version"]})
    return kept
