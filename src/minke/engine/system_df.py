"""``GET /system/df`` (``docker system df``): the disk used by images, containers, volumes.

Docker's shape: ``LayersSize`` (every layer once), ``Images`` (summaries with
``Containers`` — how many containers use the image — and ``SharedSize`` — the bytes of its
layers that other images share), ``Containers`` (summaries with ``SizeRw``, the bytes of
the container's upper directory, and ``SizeRootFs``, that plus its image), ``Volumes``
(each with ``UsageData``) and ``BuildCache``. The docker CLI computes its TOTAL / ACTIVE /
SIZE / RECLAIMABLE table from these.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from minke.engine.containers import views as container_views
from minke.engine.fsutil import directory_size


def image_usage(images: Any, users: Counter[str]) -> tuple[int, list[dict[str, Any]]]:
    """``LayersSize`` and the ``Images`` list."""
    layers = images.records.layers()
    docs = {d["id"]: d for d in images.records.images()}
    layer_users: Counter[str] = Counter()
    for doc in docs.values():
        for chain in set(doc.get("chain_ids") or []):
            layer_users[chain] += 1
    out = []
    for summary in images.list(all=True):
        doc = docs.get(summary["Id"]) or {}
        chains = set(doc.get("chain_ids") or [])
        shared = sum(layers[c]["size"] for c in chains if c in layers and layer_users[c] > 1)
        out.append({**summary, "Containers": users.get(summary["Id"], 0), "SharedSize": shared})
    return sum(d["size"] for d in layers.values()), out


async def disk_usage(engine: Any) -> dict[str, Any]:
    """The document of ``GET /system/df`` for an ``Engine``."""
    records = engine.containers.all()
    users = Counter(r["Image"] for r in records)
    layers_size, images = await asyncio.to_thread(image_usage, engine.images, users)
    image_sizes = {i["Id"]: i["Size"] for i in images}
    containers = []
    for record in records:
        upper = Path(record["GraphDriver"]["Data"].get("UpperDir") or "/nonexistent")
        size_rw = await asyncio.to_thread(directory_size, upper)
        containers.append({
            **container_views.summary(
                record, container_views.shown_image(record, engine.images.resolve)),
            "SizeRw": size_rw,
            "SizeRootFs": size_rw + image_sizes.get(record["Image"], 0),
        })
    volumes = getattr(engine, "volumes", None)
    return {
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": await volumes.df() if volumes is not None else [],
        "BuildCache": [],
    }
