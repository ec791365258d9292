"""The volume extension: how volumes, binds and tmpfs join a container's lifecycle.

``created`` validates every mount of the request (nothing is created when one is bad), then
creates the named volumes used for the first time and the anonymous ones, records the plan
and fills the record's ``Mounts`` (Docker's inspect shape). ``prepare`` readies the host
for each start (bind sources, device mounts of volumes, copy-up of image content into
empty volumes) and adds the mounts to the OCI spec, ordered by target depth and replacing
default mounts at the same target. ``stopped``/``start_failed`` release device mounts;
``removed`` drops the plan and, for ``rm -v``/``--rm``, the anonymous volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from minke.engine.containers.extensions import ContainerExtension, Record
from minke.engine.events import EventBus
from minke.engine.volumes import copyup, hostmounts, local
from minke.engine.volumes.mountpoint import MountPoint, depth, plan
from minke.engine.volumes.service import VolumeService
from minke.errors import InvalidParameter, MinkeError, NotFound

log = logging.getLogger(__name__)


class VolumeExtension(ContainerExtension):
    def __init__(self, volumes: VolumeService, events: EventBus) -> None:
        self._volumes = volumes
        self._events = events

    # -- created / removed ---------------------------------------------------------------

    async def created(self, record: Record) -> None:
        points = plan(record["HostConfig"], record["Config"].get("Volumes"),
                      self._volumes.mounts_of)
        for point in points:
            self._check(point)
        made: list[str] = []
        try:
            for point in points:
                if point.type == "volume":
                    self._ensure_volume(point, made)
            self._volumes.save_plan(record["Id"], points)
        except BaseException:
            for name in made:
                with contextlib.suppress(MinkeError):
                    await self._volumes.remove_if_unused(name)
            raise
        record["Mounts"] = [self._view(p) for p in points]

    def _check(self, point: MountPoint) -> None:
        """What can be checked before anything is created: drivers, driver options, and
        that a ``--mount`` bind source exists (``-v`` creates a missing one at start)."""
        if point.type == "volume":
            doc = self._volumes.store.find(point.name) if point.name else None
            if doc is None:
                try:
                    local.check_driver(point.driver, point.name or "volume")
                except NotFound as exc:
                    # 400, not Docker's 404: on a 404 from create the docker CLI concludes
                    # the image is missing and tries to pull it, hiding the real error.
                    raise InvalidParameter(exc.message) from None
                local.check_options(point.name or "volume", point.driver_opts)
        elif point.type == "bind" and not point.create_source and \
                not os.path.exists(point.source):
            raise InvalidParameter('invalid mount config for type "bind": bind source path '
                                   f"does not exist: {point.source}")

    def _ensure_volume(self, point: MountPoint, made: list[str]) -> None:
        if point.name and self._volumes.store.find(point.name) is not None:
            return
        doc = self._volumes.create(point.name, driver=point.driver, options=point.driver_opts,
                                   labels=point.labels, anonymous=point.anonymous)
        point.name = doc["Name"]
        point.created = True
        made.append(point.name)

    def _view(self, point: MountPoint) -> dict[str, Any]:
        mountpoint = str(self._volumes.store.data(point.name)) if point.type == "volume" else ""
        return point.docker_view(mountpoint)

    async def removed(self, record: Record, *, remove_volumes: bool = False) -> None:
        cid = record["Id"]
        # A real removal marks the record "removing" first; "created" here is the undo of
        # a create that failed after this extension's ``created`` ran.
        failed_create = record["State"]["Status"] == "created"
        points = self._volumes.drop_plan(cid)
        await self._release(cid, points)
        for point in points:
            if point.type != "volume":
                continue
            # Docker removes only volumes the user did not name (``rm -v``); the undo of a
            # failed create also removes named volumes that create made.
            if (remove_volumes and point.anonymous) or (failed_create and point.created):
                try:
                    await self._volumes.remove_if_unused(point.name)
                except MinkeError as exc:
                    log.warning("removing volume %s of %s: %s", point.name, cid[:12], exc)

    # -- start / stop --------------------------------------------------------------------

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        cid = record["Id"]
        entries: list[dict[str, Any]] = []
        for point in self._volumes.plan_of(cid):
            if point.type == "volume":
                entries.append(await self._prepare_volume(cid, point, rootfs))
            elif point.type == "bind":
                entries.append(await asyncio.to_thread(_prepare_bind, point))
            else:
                entries.append({"destination": point.destination, "type": "tmpfs",
                                "source": "tmpfs", "options": list(point.tmpfs_options)})
        if entries:
            merge_mounts(spec, entries)
            propagation = root_propagation(self._volumes.plan_of(cid))
            if propagation:
                spec["linux"]["rootfsPropagation"] = propagation

    async def _prepare_volume(self, cid: str, point: MountPoint, rootfs: Path) -> dict[str, Any]:
        store = self._volumes.store
        doc = store.get(point.name)
        data = store.data(point.name)
        await asyncio.to_thread(self._volumes.driver.acquire, point.name, doc.get("Options"),
                                data, cid)
        if point.copy_data:
            await self._copy_up(point, rootfs, data)
        self._events.publish("volume", "mount", point.name, {
            "driver": point.driver, "container": cid, "destination": point.destination,
            "read/write": str(point.rw).lower(), "propagation": ""})
        options = ["rbind", "rprivate"] + ([] if point.rw else ["ro"])
        return {"destination": point.destination, "type": "bind", "source": str(data),
                "options": options}

    async def _copy_up(self, point: MountPoint, rootfs: Path, data: Path) -> None:
        """Once per volume: the state goes "" → "pending" → "done" in the record, so a copy
        interrupted by a crash is redone from an empty volume, and a finished one is never
        repeated, even if the volume is emptied later."""
        store = self._volumes.store
        lock = self._volumes.copy_locks.setdefault(point.name, asyncio.Lock())
        async with lock:
            state = store.get(point.name).get("CopyUp", "")
            if state == "done":
                return
            source = await asyncio.to_thread(copyup.source_dir, rootfs, point.destination)
            if source is None:
                return
            if state == "pending":
                await asyncio.to_thread(copyup.clear, data)
            elif not await asyncio.to_thread(copyup.is_empty, data):
                return
            has_content = not await asyncio.to_thread(copyup.is_empty, source)
            if has_content:
                store.update(point.name, CopyUp="pending")
            await asyncio.to_thread(copyup.copy_up, source, data)
            if has_content:
                store.update(point.name, CopyUp="done")

    async def start_failed(self, record: Record) -> None:
        await self._release(record["Id"], self._volumes.plan_of(record["Id"]))

    async def stopped(self, record: Record) -> None:
        await self._release(record["Id"], self._volumes.plan_of(record["Id"]))

    async def _release(self, cid: str, points: list[MountPoint]) -> None:
        store = self._volumes.store
        for point in points:
            if point.type != "volume" or not self._volumes.driver.in_use(point.name):
                continue
            doc = store.find(point.name)
            if doc is not None:
                await asyncio.to_thread(self._volumes.driver.release, point.name,
                                        doc.get("Options"), store.data(point.name), cid)


def _prepare_bind(point: MountPoint) -> dict[str, Any]:
    if not os.path.exists(point.source):
        if not point.create_source:
            raise InvalidParameter('invalid mount config for type "bind": bind source path '
                                   f"does not exist: {point.source}")
        # ``-v /host:/ctr`` makes a missing host directory, as Docker does.
        os.makedirs(point.source, mode=0o755, exist_ok=True)
    hostmounts.check_propagation(point.source, point.propagation)
    options = ["rbind", point.propagation or "rprivate"] + ([] if point.rw else ["ro"])
    return {"destination": point.destination, "type": "bind", "source": point.source,
            "options": options}


def merge_mounts(spec: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Add ``entries`` to the spec's mounts: a default mount at the same target (or under a
    user's /dev) gives way, and all are ordered parents first (stable, so the defaults keep
    their order) so that no later mount shadows a user's."""
    targets = {e["destination"] for e in entries}
    kept = [m for m in spec.get("mounts", [])
            if m["destination"] not in targets
            and not ("/dev" in targets and m["destination"].startswith("/dev/"))]
    spec["mounts"] = sorted(kept + entries, key=lambda m: depth(m["destination"]))


def root_propagation(points: list[MountPoint]) -> str:
    """The root's propagation a shared or slave bind needs (Docker's rule)."""
    modes = {p.propagation for p in points if p.type == "bind"}
    if modes & {"shared", "rshared"}:
        return "rshared"
    if modes & {"slave", "rslave"}:
        return "rslave"
    return ""
