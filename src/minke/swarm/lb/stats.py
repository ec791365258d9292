"""Cumulative counters of one backend's container, read from the host: CPU seconds from its
cgroup (the engine's ``cgroups.hierarchy`` finds it; v1 ``cpuacct.usage`` or v2
``cpu.stat``), its CPU limit from its HostConfig, and bytes through the host ends of its
network links (/sys/class/net/<veth>/statistics). The balancer turns them into rates."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.engine.cgroups.files import read_int, read_keyed
from minke.engine.cgroups.hierarchy import CgroupDirs, Hierarchy

NODE_CPUS = float(os.cpu_count() or 1)


@dataclass(frozen=True)
class Counters:
    cpu_seconds: float
    net_bytes: int


def capacity(record: dict[str, Any]) -> float:
    """Cores the container may use: its NanoCpus or CFS quota, else the node's CPUs."""
    host = record.get("HostConfig") or {}
    if host.get("NanoCpus"):
        return min(host["NanoCpus"] / 1e9, NODE_CPUS)
    quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 100_000
    if quota > 0:
        return min(quota / period, NODE_CPUS)
    return NODE_CPUS


def cpu_seconds(dirs: CgroupDirs) -> float:
    if dirs.version == 1:
        cpuacct = dirs.v1.get("cpuacct")
        return (read_int(cpuacct / "cpuacct.usage") or 0) / 1e9 if cpuacct else 0.0
    if dirs.v2 is None:
        return 0.0
    return read_keyed(dirs.v2 / "cpu.stat").get("usage_usec", 0) / 1e6


def interface_bytes(ifnames: list[str]) -> int:
    total = 0
    for name in ifnames:
        base = Path("/sys/class/net") / name / "statistics"
        total += (read_int(base / "rx_bytes") or 0) + (read_int(base / "tx_bytes") or 0)
    return total


class Reader:
    """Counters of containers by record; their cgroup directories are cached per PID."""

    def __init__(self) -> None:
        self.hierarchy = Hierarchy.detect()
        self._dirs: dict[int, CgroupDirs] = {}

    def read(self, record: dict[str, Any], ifnames: list[str]) -> Counters:
        pid = int((record.get("State") or {}).get("Pid") or 0)
        dirs = self._dirs.get(pid)
        if dirs is None and pid:
            dirs = self._dirs[pid] = self.hierarchy.dirs_of_pid(pid)
        return Counters(cpu_seconds(dirs) if dirs else 0.0, interface_bytes(ifnames))

    def keep(self, pids: set[int]) -> None:
        for pid in [p for p in self._dirs if p not in pids]:
            del self._dirs[pid]
