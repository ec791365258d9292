"""The one place that picks implementations: which OCI runtime and monitor an Engine gets,
and its swarm membership (on the cluster store the settings name: SQLite or etcd)."""

from __future__ import annotations

import shutil
from typing import Any

from minke.engine.engine import Engine, EngineConfig
from minke.engine.runtime import Conmon, Runc
from minke.errors import Unavailable
from minke.swarm.agent import LocalAgent
from minke.swarm.cluster import SwarmCluster
from minke.swarm.store.settings import StoreSettings


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise Unavailable(f"{name} not found in PATH: install it (apt-get install {name})")
    return path


def build_engine(config: EngineConfig, *, runtime: str = "runc",
                 store: StoreSettings | None = None,
                 generic_resources: list[dict[str, Any]] | None = None) -> Engine:
    """``generic_resources``: what the node offers swarm tasks beyond CPU and memory
    (``--node-generic-resource``), in the API's ``GenericResources`` shape."""
    oci = Runc(binary=_binary(runtime), root=config.exec_root / runtime, name=runtime)
    monitor = Conmon(runtime=oci, exec_root=config.exec_root / "monitor", binary=_binary("conmon"))
    engine = Engine(config, runtime=oci, monitor=monitor)
    store = store or StoreSettings()
    engine.swarm = SwarmCluster(config.data_root / "swarm",
                                agent=LocalAgent(engine, generic_resources),
                                publish=engine.events.publish, open_store=store.opener(),
                                leader_lease=store.leader_lease,
                                store_url=store.etcd.url if store.etcd else "")
    return engine
