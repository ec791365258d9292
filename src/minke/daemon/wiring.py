"""The one place that picks implementations: which OCI runtime and monitor an Engine gets,
and its swarm membership (on the SQLite cluster store)."""

from __future__ import annotations

import shutil

from minke.engine.engine import Engine, EngineConfig
from minke.engine.runtime import Conmon, Runc
from minke.errors import Unavailable
from minke.swarm.agent import LocalAgent
from minke.swarm.cluster import SwarmCluster


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise Unavailable(f"{name} not found in PATH: install it (apt-get install {name})")
    return path


def build_engine(config: EngineConfig, *, runtime: str = "runc") -> Engine:
    oci = Runc(binary=_binary(runtime), root=config.exec_root / runtime, name=runtime)
    monitor = Conmon(runtime=oci, exec_root=config.exec_root / "monitor", binary=_binary("conmon"))
    engine = Engine(config, runtime=oci, monitor=monitor)
    engine.swarm = SwarmCluster(config.data_root / "swarm", agent=LocalAgent(engine),
                                publish=engine.events.publish)
    return engine
