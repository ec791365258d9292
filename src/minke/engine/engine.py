"""The Engine facade: one object that owns a daemon's stores and services, usable in-process
(minked's API and, later, a Swarm node agent drive the same object).

``daemon/wiring.py`` picks the implementations (runc or crun, the monitor) and passes them in.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.engine.build.builder import Builder
from minke.engine.cgroups import ResourceUpdater, StatsService
from minke.engine.containers import ContainerService, ExecService
from minke.engine.containers.config import DEFAULT_LOG_DRIVER, LOG_DRIVERS, rfc3339
from minke.engine.containers.extensions import ContainerExtension
from minke.engine.containers.health import HealthChecks
from minke.engine.containers.init import InitProcess
from minke.engine.containers.ipc import IpcExtension
from minke.engine.containers.resources import ResourcesExtension
from minke.engine.containers.restart import RestartPolicies
from minke.engine.containers.security import SecurityExtension
from minke.engine.events import EventBus
from minke.engine.images import ImageService
from minke.engine.network import NetworkService
from minke.engine.network.netns import interface_counters
from minke.engine.runtime import Conmon, OCIRuntime
from minke.engine.state import StateDB
from minke.engine.volumes import VolumeExtension, VolumeService
from minke.version import DOCKER_COMPAT_VERSION


@dataclass(frozen=True)
class EngineConfig:
    data_root: Path = Path("/var/lib/minke")
    exec_root: Path = Path("/run/minke")
    cgroup_parent: str = "minke"
    bridge: str = "minke0"  # the default bridge network's device (dockerd's -b)
    bip: str = ""  # its address and prefix (dockerd's --bip); "" picks a free pool


class Engine:
    def __init__(self, config: EngineConfig, *, runtime: OCIRuntime, monitor: Conmon) -> None:
        self.config = config
        config.data_root.mkdir(parents=True, exist_ok=True, mode=0o711)
        config.exec_root.mkdir(parents=True, exist_ok=True, mode=0o711)
        self.db = StateDB(config.data_root / "minke.db")
        self.events = EventBus()
        self.images = ImageService(root=config.data_root / "image", db=self.db, events=self.events)
        self.volumes = VolumeService(root=config.data_root / "volumes", db=self.db,
                                     events=self.events)
        self.stats = StatsService(lambda ref: self.containers.get(ref),
                                  counters=interface_counters)
        self.health = HealthChecks(images=self.images, events=self.events)
        self.restarts = RestartPolicies()
        self.networks = NetworkService(db=self.db, events=self.events,
                                       data_root=config.data_root,
                                       exec_root=config.exec_root, bridge=config.bridge,
                                       bip=config.bip)
        # The lifecycle calls extensions in this order, and in reverse after an exit. Security
        # and limits validate a new container before anything is allocated for it; the
        # network comes last so that, after an exit, it frees the namespace before a restart
        # policy starts the container again.
        extensions: list[ContainerExtension] = [
            SecurityExtension(lambda ref: self.containers.get(ref)),
            ResourcesExtension(config.cgroup_parent),
            self.stats,
            VolumeExtension(self.volumes, self.events),
            # after volumes: a /dev/shm of the user's replaces the shared one
            IpcExtension(lambda ref: self.containers.get(ref),
                         lambda cid: self.containers.paths(cid)["dir"]),
            InitProcess(),
            self.health,
            self.restarts,
            self.networks.extension,
        ]
        self.containers = ContainerService(
            data_root=config.data_root, exec_root=config.exec_root, db=self.db,
            events=self.events, images=self.images, snapshots=self.images.snapshots,
            runtime=runtime, monitor=monitor, cgroup_parent=config.cgroup_parent,
            extensions=extensions,
        )
        self.volumes.bind_containers(self.containers)
        self.health.bind(self.containers)
        self.restarts.bind(self.containers)
        self.networks.containers = self.containers
        self.execs = ExecService(containers=self.containers, events=self.events)
        self.builder = Builder(self, config.data_root / "build")
        self.resources = ResourceUpdater(containers=self.containers, runtime=runtime,
                                         events=self.events, cgroup_parent=config.cgroup_parent)
        self.id = self._daemon_id()
        # This node's swarm membership (minke.swarm.cluster.SwarmCluster), set by the daemon's
        # wiring; None: the engine is never in a swarm. Typed loosely: swarm sits above engine.
        self.swarm: Any = None

    def _daemon_id(self) -> str:
        path = self.config.data_root / "engine-id"
        if not path.exists():
            path.write_text(os.urandom(16).hex())
        return path.read_text().strip()

    async def start(self) -> None:
        """Reconcile records with what the kernel and the monitors report."""
        await self.volumes.recover()  # first: it counts the running users of volumes
        await self.networks.start()  # bridges and firewall before containers are reconciled
        await self.containers.recover()
        if self.swarm is not None:
            await self.swarm.start()  # after containers: its tasks are containers

    async def close(self) -> None:
        if self.swarm is not None:
            await self.swarm.close()
        await self.containers.close()
        await self.networks.close()
        self.db.close()

    async def info(self) -> dict[str, Any]:
        records = self.containers.all()
        running = sum(1 for r in records if r["State"]["Status"] == "running")
        paused = sum(1 for r in records if r["State"]["Status"] == "paused")
        uname = platform.uname()
        runtime = self.containers.runtime
        return {
            "ID": self.id,
            "Containers": len(records),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(records) - running - paused,
            "Images": len(self.images.list()),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                        "Authorization": None, "Log": list(LOG_DRIVERS)},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "CPUSet": True, "PidsLimit": True, "OomKillDisable": True,
            "IPv4Forwarding": True, "BridgeNfIptables": True, "BridgeNfIp6tables": True,
            "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": 0, "SystemTime": rfc3339(), "LoggingDriver": DEFAULT_LOG_DRIVER,
            "CgroupDriver": "cgroupfs", "CgroupVersion": _cgroup_version(),
            "NEventsListener": 0, "KernelVersion": uname.release,
            "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux",
            "Architecture": uname.machine, "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                               "Mirrors": []},
            "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(),
            "DockerRootDir": str(self.config.data_root), "Name": socket.gethostname(),
            "Labels": [], "ExperimentalBuild": False, "ServerVersion": DOCKER_COMPAT_VERSION,
            "Runtimes": {runtime.name: {"path": runtime.binary}},
            "DefaultRuntime": runtime.name,
            "Swarm": await self.swarm.info() if self.swarm is not None else {
                "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                "ControlAvailable": False, "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "tini",
            "SecurityOptions": ["name=seccomp,profile=default",
                                *(["name=cgroupns"] if _cgroup_version() == "2" else [])],
            "Warnings": [],
        }


def _cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _mem_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "Linux"
