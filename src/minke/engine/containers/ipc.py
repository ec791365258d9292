"""/dev/shm for the IPC modes that share it, as moby's ``setupIPCDirs``.

An IPC namespace shares System V IPC and POSIX message queues, not the files of /dev/shm
(POSIX shared memory, ``shm_open``): those live on whatever tmpfs is mounted there. So a
``shareable`` container's /dev/shm is a tmpfs the daemon mounts on the host
(``<container dir>/shm``, ``HostConfig.ShmSize``) and binds in, and a container started
with ``IpcMode: container:<it>`` binds the same one; ``host`` binds the host's /dev/shm.
``private`` (the default) and ``none`` keep the spec's own (a tmpfs in the container's mount
namespace; none at all for ``none``), which no other container can join. The host's tmpfs
is unmounted when the container stops, as dockerd's ``UnmountIpcMount``: a container that
joined it keeps its bind. A /dev/shm of the user's (a volume, bind or tmpfs) wins, and
nothing is mounted for it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minke.engine import mounts
from minke.engine.containers.extensions import ContainerExtension, Record
from minke.engine.mounts import MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID
from minke.engine.volumes.hostmounts import is_mount_point
from minke.errors import InternalError, InvalidParameter

SHM = "/dev/shm"


def _mode(record: Record) -> str:
    return record["HostConfig"].get("IpcMode") or ""


def mount_tmpfs(target: Path, size: int) -> None:
    """A fresh tmpfs on ``target`` (a mount left there by an earlier run goes first)."""
    unmount(target)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = f"mode=1777,size={size}".encode()
    try:
        mounts.mount("shm", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data)
    except OSError as exc:
        raise InternalError(f"mounting shm tmpfs: {exc.strerror}") from None


def unmount(target: Path) -> None:
    try:
        while mounts.umount(target, MNT_DETACH):
            pass  # mounts stacked by a crash, down to the directory itself
    except OSError as exc:
        raise InternalError(f"unmounting {target}: {exc.strerror}") from None


class IpcExtension(ContainerExtension):
    """``lookup`` finds another container by name or id (the donor of ``container:<id>``);
    ``container_dir`` is a container's directory in the data root."""

    def __init__(self, lookup: Callable[[str], Record],
                 container_dir: Callable[[str], Path]) -> None:
        self._lookup = lookup
        self._container_dir = container_dir

    def shm_dir(self, container_id: str) -> Path:
        return self._container_dir(container_id) / "shm"

    def _shared_source(self, record: Record, seen: frozenset[str] = frozenset()) -> str | None:
        """The host directory ``record``'s /dev/shm binds, or None for a private one. For a
        running container that is the one it has now (what a joiner shares)."""
        mode = _mode(record)
        if mode == "host":
            return SHM
        if mode == "shareable":
            return str(self.shm_dir(record["Id"]))
        if mode.startswith("container:") and record["Id"] not in seen:
            donor = self._lookup(mode.split(":", 1)[1])
            source = self._shared_source(donor, seen | {record["Id"]})
            if source is None or (source != SHM and not is_mount_point(Path(source))):
                # Private, or shareable with a /dev/shm of its user's (nothing to share).
                raise InvalidParameter(
                    f"can't join IPC of container {donor['Id']}: non-shareable IPC (hint: "
                    "use IpcMode:shareable for the donor container)")
            return source
        return None

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        shm = next((m for m in spec["mounts"] if m["destination"] == SHM), None)
        if shm is None or (shm["type"], shm["source"]) != ("tmpfs", "shm"):
            return  # IpcMode none, or the user's own /dev/shm
        source = self._shared_source(record)
        if source is None:
            return
        if _mode(record) == "shareable":
            size = int(record["HostConfig"].get("ShmSize") or 64 * 1024 * 1024)
            await asyncio.to_thread(mount_tmpfs, Path(source), size)
        elif source == SHM and not os.path.isdir(SHM):
            raise InvalidParameter("/dev/shm is not mounted, but must be for --ipc=host")
        shm.clear()
        shm.update(destination=SHM, type="bind", source=source, options=["rbind", "rprivate"])

    async def _release(self, record: Record) -> None:
        if _mode(record) == "shareable":
            await asyncio.to_thread(unmount, self.shm_dir(record["Id"]))

    async def start_failed(self, record: Record) -> None:
        await self._release(record)

    async def stopped(self, record: Record) -> None:
        await self._release(record)
