"""What the swarm asks of this node's Engine: the node's ``Description`` (hostname,
platform, resources, engine version and plugins, as dockerd's executor describes them),
the executor that runs its tasks (``executor.py``) and, when the node leaves, the removal of
its task containers (labelled ``com.docker.swarm.node.id``) and their secret files."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from minke import errors
from minke.swarm import taskfiles
from minke.swarm.agent.executor import TASK_LABEL, TaskExecutor, task_files_dir
from minke.swarm.agent.networks import forget
from minke.swarm.ca import DataKey
from minke.swarm.store import Store

if TYPE_CHECKING:
    from minke.engine.engine import Engine

log = logging.getLogger(__name__)

NODE_LABEL = "com.docker.swarm.node.id"


class LocalAgent:
    def __init__(self, engine: Engine, generic_resources: list[dict[str, Any]] | None = None
                 ) -> None:
        self.engine = engine
        self.generic_resources = generic_resources or []  # --node-generic-resource

    async def describe(self) -> dict[str, Any]:
        """From the Engine's ``/info``, as dockerd's executor builds it from its own."""
        info = await self.engine.info()
        plugins = [{"Type": kind, "Name": name}
                   for kind in ("Log", "Network", "Volume")
                   for name in sorted(info["Plugins"].get(kind) or [])]
        engine: dict[str, Any] = {"EngineVersion": info["ServerVersion"], "Plugins": plugins}
        if info.get("Labels"):
            engine["Labels"] = dict(label.split("=", 1) for label in info["Labels"])
        resources: dict[str, Any] = {"NanoCPUs": info["NCPU"] * 1_000_000_000,
                                     "MemoryBytes": info["MemTotal"]}
        if self.generic_resources:
            resources["GenericResources"] = self.generic_resources
        return {
            "Hostname": info["Name"],
            "Platform": {"Architecture": info["Architecture"], "OS": info["OSType"]},
            "Resources": resources,
            "Engine": engine,
        }

    def executor(self, store: Store, node_id: str, data_key: DataKey) -> TaskExecutor:
        """The executor running this node's tasks from ``store``."""
        return TaskExecutor(self.engine, store, node_id, data_key)

    async def remove_task_containers(self, node_id: str) -> None:
        for record in self.engine.containers.all():
            labels = record["Config"].get("Labels") or {}
            if labels.get(NODE_LABEL) != node_id:
                continue
            try:
                await self.engine.containers.remove(record["Id"], force=True)
            except errors.MinkeError as exc:  # dockerd logs these and leaves anyway
                log.error("removing task container %s: %s", record["Id"][:12], exc)
            task_id = labels.get(TASK_LABEL)
            if task_id:  # its secrets and configs, in memory, go with it
                try:
                    await asyncio.to_thread(taskfiles.release,
                                            task_files_dir(self.engine, task_id))
                except OSError as exc:
                    log.error("releasing the files of task %s: %s", task_id, exc)
        await forget(self.engine.networks)  # its swarm networks go with them, as in dockerd
