"""What the swarm asks of this node's Engine: the node's ``Description`` (hostname,
platform, resources, engine version and plugins, as dockerd's executor describes them) and,
when the node leaves, the removal of its task containers (labelled
``com.docker.swarm.node.id``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from minke import errors

if TYPE_CHECKING:
    from minke.engine.engine import Engine

log = logging.getLogger(__name__)

NODE_LABEL = "com.docker.swarm.node.id"


class LocalAgent:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def describe(self) -> dict[str, Any]:
        """From the Engine's ``/info``, as dockerd's executor builds it from its own."""
        info = await self.engine.info()
        plugins = [{"Type": kind, "Name": name}
                   for kind in ("Log", "Network", "Volume")
                   for name in sorted(info["Plugins"].get(kind) or [])]
        engine: dict[str, Any] = {"EngineVersion": info["ServerVersion"], "Plugins": plugins}
        if info.get("Labels"):
            engine["Labels"] = dict(label.split("=", 1) for label in info["Labels"])
        return {
            "Hostname": info["Name"],
            "Platform": {"Architecture": info["Architecture"], "OS": info["OSType"]},
            "Resources": {"NanoCPUs": info["NCPU"] * 1_000_000_000,
                          "MemoryBytes": info["MemTotal"]},
            "Engine": engine,
        }

    async def remove_task_containers(self, node_id: str) -> None:
        for record in self.engine.containers.all():
            labels = record["Config"].get("Labels") or {}
            if labels.get(NODE_LABEL) != node_id:
                continue
            try:
                await self.engine.containers.remove(record["Id"], force=True)
            except errors.MinkeError as exc:  # dockerd logs these and leaves anyway
                log.error("removing task container %s: %s", record["Id"][:12], exc)
