"""The volume service: what ``/volumes`` and ``minke volume`` do (create, inspect, list with
filters, remove, prune, usage), and the registry of which container mounts what.

Owns the containers' mount plans (``volume_mounts`` table): a volume is in use while any
container, running or stopped, has a plan naming it, from the moment its create validated
the mounts until its removal, so ``volume rm`` can never pull data from under a container.
The lifecycle side (mounting, copy-up) is ``extension.VolumeExtension``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from minke.engine.events import EventBus
from minke.engine.fsutil import directory_size
from minke.engine.state import StateDB
from minke.engine.volumes import hostmounts, local
from minke.engine.volumes.mountpoint import MountPoint, validate_volume_name
from minke.engine.volumes.store import Doc, VolumeStore, public
from minke.errors import Conflict, InvalidParameter, NotFound

log = logging.getLogger(__name__)

LIST_FILTERS = {"dangling", "driver", "label", "name"}
PRUNE_FILTERS = {"label", "label!"}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


class VolumeService:
    """Every volume of one daemon and every container's mount plan."""

    def __init__(self, *, root: Any, db: StateDB, events: EventBus) -> None:
        self._db = db
        self._events = events
        self.store = VolumeStore(root, db)
        self.driver = local.LocalDriver()
        self._plans: dict[str, list[MountPoint]] = {
            row["container_id"]: [MountPoint.from_doc(d) for d in json.loads(row["doc"])]
            for row in db.query("SELECT container_id, doc FROM volume_mounts")
        }
        self._containers: Any = None
        self.copy_locks: dict[str, asyncio.Lock] = {}

    def bind_containers(self, containers: Any) -> None:
        """The container service, for ``--volumes-from`` and recovery (set by ``Engine``)."""
        self._containers = containers

    # -- volumes -------------------------------------------------------------------------

    def create(self, name: str = "", *, driver: str = "", options: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, anonymous: bool = False) -> Doc:
        """``POST /volumes/create``: a new volume, or the existing one of that name."""
        anonymous = anonymous or not name
        name = name or os.urandom(32).hex()
        driver = driver or local.NAME
        local.check_driver(driver, name)  # Docker looks the driver up before the name
        validate_volume_name(name)
        options = {str(k): str(v) for k, v in (options or {}).items()}
        local.check_options(name, options)
        existing = self.store.find(name)
        if existing is not None:
            return existing
        doc = self.store.create(name, driver=driver, options=options,
                                labels={str(k): str(v) for k, v in (labels or {}).items()},
                                anonymous=anonymous)
        self._events.publish("volume", "create", name, {"driver": driver})
        return doc

    def inspect(self, name: str) -> Doc:
        return public(self.store.get(name))

    def users(self, name: str) -> list[str]:
        """Ids of containers (running or not) whose mounts name the volume."""
        return [cid for cid, plan in self._plans.items()
                if any(p.type == "volume" and p.name == name for p in plan)]

    def list(self, filters: dict[str, list[str]] | None = None) -> list[Doc]:
        filters = filters or {}
        for key, values in filters.items():
            if key not in LIST_FILTERS:
                raise InvalidParameter(f"Invalid filter '{key}'")
            if key == "dangling":
                for value in values:
                    if value.lower() not in _TRUE + _FALSE:
                        raise InvalidParameter(
                            f"Invalid filter 'dangling={value}': must be true or false")
        return [public(d) for d in self.store.all() if self._matches(d, filters)]

    def _matches(self, doc: Doc, filters: dict[str, list[str]]) -> bool:
        for key, values in filters.items():
            if not values:
                continue
            if key == "name":
                ok = any(v in doc["Name"] for v in values)
            elif key == "driver":
                ok = doc["Driver"] in values
            elif key == "label":
                ok = all(_label_ok(doc.get("Labels") or {}, v) for v in values)
            elif key == "label!":
                ok = not any(_label_ok(doc.get("Labels") or {}, v) for v in values)
            else:  # dangling
                want = values[-1].lower() in _TRUE
                ok = (not self.users(doc["Name"])) == want
            if not ok:
                return False
        return True

    async def remove(self, name: str, *, force: bool = False) -> None:
        """``DELETE /volumes/{name}``: refused with 409 while any container refers to it;
        ``force`` only makes a missing volume a success, as in Docker."""
        doc = self.store.find(name)
        if doc is None:
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        users = self.users(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{' '.join(users)}]")
        await self._remove(doc)

    async def _remove(self, doc: Doc) -> None:
        name = doc["Name"]
        data = self.store.data(name)
        if local.LocalDriver.has_device(doc.get("Options")) and \
                await asyncio.to_thread(hostmounts.is_mount_point, data):
            await asyncio.to_thread(hostmounts.unmount, data)
        await asyncio.to_thread(self.store.remove, name)
        self.copy_locks.pop(name, None)
        self._events.publish("volume", "destroy", name, {"driver": doc["Driver"]})

    async def remove_if_unused(self, name: str) -> None:
        """Remove a container's anonymous volume unless another container uses it too
        (Docker ignores "in use" there: sharing is not an error)."""
        doc = self.store.find(name)
        if doc is not None and not self.users(name):
            await self._remove(doc)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """``POST /volumes/prune`` (API 1.41: every unused volume, named or anonymous)."""
        filters = filters or {}
        for key in filters:
            if key not in PRUNE_FILTERS:
                raise InvalidParameter(f"Invalid filter '{key}'")
        deleted, reclaimed = [], 0
        for doc in self.store.all():
            if self.users(doc["Name"]) or not self._matches(doc, filters):
                continue
            reclaimed += await asyncio.to_thread(directory_size, self.store.data(doc["Name"]))
            await self._remove(doc)
            deleted.append(doc["Name"])
        self._events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def size(self, name: str) -> int:
        """Bytes a volume holds (regular files, hard links once); blocking, for
        ``system df`` through ``usage``."""
        self.store.get(name)
        return directory_size(self.store.data(name))

    async def usage(self, name: str) -> dict[str, int]:
        """Docker's ``UsageData`` of a volume: size in bytes and number of containers."""
        size = await asyncio.to_thread(self.size, name)
        return {"Size": size, "RefCount": len(self.users(name))}

    async def df(self) -> list[Doc]:
        """The volumes of ``GET /system/df``: each with its ``UsageData``."""
        return [{**public(doc), "UsageData": await self.usage(doc["Name"])}
                for doc in self.store.all()]

    # -- plans (called by the extension) -------------------------------------------------

    def plan_of(self, container_id: str) -> list[MountPoint]:
        return self._plans.get(container_id, [])

    def mounts_of(self, ref: str) -> list[MountPoint]:
        """``--volumes-from ref``: that container's volume and bind mounts."""
        if self._containers is None:
            raise NotFound(f"No such container: {ref}")
        record = self._containers.get(ref)
        return [p for p in self.plan_of(record["Id"]) if p.type in ("volume", "bind")]

    def save_plan(self, container_id: str, plan: list[MountPoint]) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO volume_mounts(container_id, doc) VALUES(?,?) ON CONFLICT"
                "(container_id) DO UPDATE SET doc=excluded.doc",
                (container_id, json.dumps([p.to_doc() for p in plan])),
            )
        self._plans[container_id] = plan

    def drop_plan(self, container_id: str) -> list[MountPoint]:
        with self._db.transaction() as db:
            db.execute("DELETE FROM volume_mounts WHERE container_id=?", (container_id,))
        return self._plans.pop(container_id, [])

    async def recover(self) -> None:
        """At daemon start, before the containers' recovery: forget plans of containers that
        are gone, count running users of device volumes, unmount unused devices, and delete
        volume directories a crash left without a record."""
        known = {r["Id"]: r for r in self._containers.all()} if self._containers else {}
        for cid in [c for c in self._plans if c not in known]:
            self.drop_plan(cid)
        for cid, plan in self._plans.items():
            if known[cid]["State"]["Running"]:
                for point in plan:
                    doc = self.store.find(point.name) if point.type == "volume" else None
                    if doc and local.LocalDriver.has_device(doc.get("Options")):
                        self.driver.adopt(point.name, cid)
        for doc in self.store.all():
            self.driver.forget_unused(doc["Name"], doc.get("Options"),
                                      self.store.data(doc["Name"]))
        await asyncio.to_thread(self.store.recover, hostmounts.is_mount_point)


def _label_ok(labels: dict[str, str], expr: str) -> bool:
    key, eq, value = expr.partition("=")
    return labels.get(key) == value if eq else key in labels
