"""``docker diff``: what a container changed in its root filesystem.

The changes are read from the container's overlay upper directory against its image's
layers, with the walk ``images.layerdiff`` shares with ``docker commit`` and the builder:
an overlay whiteout (a 0:0 character device) is a deletion (Kind 2), an entry that exists
in a lower layer a modification (0), any other an addition (1).

Docker keeps the files it creates for every container (mount points of /etc/hosts,
/etc/hostname, /etc/resolv.conf, /dev/console, /sbin/docker-init...) in an "init" layer
below the container's own, so ``docker diff`` never shows them. minke has no init layer:
runc makes those mount points in the upper directory, so they are left out here, with the
directories that were copied up only to hold them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from minke.engine.images import layerdiff

# What Docker's init layer holds (moby daemon/initlayer), plus minke's --init mount point.
INIT_LAYER_PATHS = frozenset({
    "/.dockerenv", "/dev/console", "/dev/pts", "/dev/shm", "/dev/mqueue", "/etc/hosts",
    "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/proc", "/sys", "/sbin/docker-init",
})


def without_init_layer(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``changes`` without the init-layer mount points, nor directories that are listed only
    because one of those was made in them."""
    kept = [c for c in changes
            if not (c["Path"] in INIT_LAYER_PATHS and c["Kind"] == layerdiff.CHANGE_ADDED)]
    holders = {p.rsplit("/", 1)[0] or "/" for p in INIT_LAYER_PATHS}
    out = []
    for change in kept:
        path = change["Path"]
        if path in holders and change["Kind"] == layerdiff.CHANGE_MODIFIED and not any(
            other["Path"].startswith(path + "/") for other in kept
        ):
            continue
        out.append(change)
    return out


async def container_changes(record: dict[str, Any], images: Any) -> list[dict[str, Any]]:
    """``GET /containers/{id}/changes`` for a container record."""
    upper = Path(record["GraphDriver"]["Data"]["UpperDir"])
    lowers = await asyncio.to_thread(layerdiff.lower_dirs, images, record["Image"])
    changes = await asyncio.to_thread(layerdiff.changes, upper, lowers)
    return without_init_layer(changes)
