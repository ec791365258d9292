"""``docker export``: a container's whole root filesystem as one tar stream.

The merged view (image layers and the container's changes) of the root filesystem, without
the container's mounts (volumes, /proc, tmpfs), as Docker's export: the live overlay mount
of a running container, or the root filesystem mounted for the duration of the stream
(``ContainerService.mounted_rootfs``). Entries are written from directory descriptors
(``archive.TreeTarWriter``), so links inside never lead out of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tarfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, BinaryIO

from minke.engine.containers.archive import TreeTarWriter
from minke.engine.events import EventBus
from minke.engine.images._streams import AsyncSink

if TYPE_CHECKING:
    from minke.engine.containers.service import ContainerService


async def export(containers: ContainerService, events: EventBus,
                 ref: str) -> AsyncIterator[bytes]:
    """The tar of the container ``ref``; NoSuchContainer is raised before the first byte."""
    stack = contextlib.AsyncExitStack()
    record, rootfs = await stack.enter_async_context(containers.mounted_rootfs(ref))
    try:
        rootfd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stack.callback(os.close, rootfd)
    except BaseException:
        await stack.aclose()
        raise
    attrs = {"image": record["Config"]["Image"], "name": record["Name"].lstrip("/"),
             **(record["Config"].get("Labels") or {})}
    events.publish("container", "export", record["Id"], attrs)

    async def chunks() -> AsyncIterator[bytes]:
        async with stack:
            sink = AsyncSink(asyncio.get_running_loop())
            async for chunk in sink.chunks(lambda out: write_rootfs_tar(out, rootfd)):
                yield chunk

    return chunks()


def write_rootfs_tar(out: BinaryIO, rootfd: int) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        writer = TreeTarWriter(tar)
        for name in sorted(os.listdir(rootfd), key=os.fsencode):
            writer.add(rootfd, name, name)
