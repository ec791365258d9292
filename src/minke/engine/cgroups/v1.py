"""Stats of a cgroup v1 container in Docker's shape (what dockerd gets from containerd's
cgroups v1 metrics): cpuacct/cpu, memory, pids and blkio controllers, one file each.

Memory keys are the fixed set Docker reports for v1 (not every line of memory.stat), so
``docker stats`` and docker-py find ``cache``/``total_inactive_file`` where they look.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from minke.engine.cgroups.files import read_int, read_ints, read_keyed, read_text

_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")  # cpuacct.stat counts USER_HZ ticks

MEMORY_KEYS = (
    "active_anon", "active_file", "cache", "dirty", "hierarchical_memory_limit",
    "hierarchical_memsw_limit", "inactive_anon", "inactive_file", "mapped_file", "pgfault",
    "pgmajfault", "pgpgin", "pgpgout", "rss", "rss_huge", "total_active_anon",
    "total_active_file", "total_cache", "total_dirty", "total_inactive_anon",
    "total_inactive_file", "total_mapped_file", "total_pgfault", "total_pgmajfault",
    "total_pgpgin", "total_pgpgout", "total_rss", "total_rss_huge", "total_unevictable",
    "total_writeback", "unevictable", "writeback",
)

# blkio_stats keys and the CFQ files behind them; without CFQ only the throttle files exist.
_BLKIO_CFQ = {
    "io_service_bytes_recursive": "blkio.io_service_bytes_recursive",
    "io_serviced_recursive": "blkio.io_serviced_recursive",
    "io_queue_recursive": "blkio.io_queued_recursive",
    "io_service_time_recursive": "blkio.io_service_time_recursive",
    "io_wait_time_recursive": "blkio.io_wait_time_recursive",
    "io_merged_recursive": "blkio.io_merged_recursive",
    "io_time_recursive": "blkio.time_recursive",
    "sectors_recursive": "blkio.sectors_recursive",
}
_BLKIO_THROTTLE = {
    "io_service_bytes_recursive": "blkio.throttle.io_service_bytes_recursive",
    "io_serviced_recursive": "blkio.throttle.io_serviced_recursive",
}


def read(dirs: dict[str, Path], host_memory: int) -> dict[str, Any]:
    """One reading of the cgroup whose controller directories are ``dirs``."""
    return {
        **_cpu(dirs.get("cpuacct"), dirs.get("cpu")),
        "memory_stats": _memory(dirs.get("memory"), host_memory),
        "pids_stats": _pids(dirs.get("pids")),
        "blkio_stats": _blkio(dirs.get("blkio")),
    }


def _cpu(cpuacct: Path | None, cpu: Path | None) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": 0, "usage_in_kernelmode": 0,
                             "usage_in_usermode": 0}
    if cpuacct is not None:
        usage["total_usage"] = read_int(cpuacct / "cpuacct.usage") or 0
        percpu = read_ints(cpuacct / "cpuacct.usage_percpu")
        if percpu:
            usage["percpu_usage"] = percpu
        ticks = read_keyed(cpuacct / "cpuacct.stat")
        usage["usage_in_kernelmode"] = ticks.get("system", 0) * _NS_PER_TICK
        usage["usage_in_usermode"] = ticks.get("user", 0) * _NS_PER_TICK
    stat = read_keyed(cpu / "cpu.stat") if cpu is not None else {}
    return {
        "cpu_usage": usage,
        "throttling_data": {
            "periods": stat.get("nr_periods", 0),
            "throttled_periods": stat.get("nr_throttled", 0),
            "throttled_time": stat.get("throttled_time", 0),
        },
    }


def _memory(memory: Path | None, host_memory: int) -> dict[str, Any]:
    if memory is None:
        return {}
    raw = read_keyed(memory / "memory.stat")
    limit = read_int(memory / "memory.limit_in_bytes") or 0
    out: dict[str, Any] = {
        "usage": read_int(memory / "memory.usage_in_bytes") or 0,
        "max_usage": read_int(memory / "memory.max_usage_in_bytes") or 0,
        "stats": {k: raw[k] for k in MEMORY_KEYS if k in raw},
        # An unlimited cgroup shows ~2^63: dockerd reports the machine's memory instead.
        "limit": host_memory if not limit or (host_memory and limit > host_memory) else limit,
    }
    failcnt = read_int(memory / "memory.failcnt")
    if failcnt:
        out["failcnt"] = failcnt
    return out


def _pids(pids: Path | None) -> dict[str, Any]:
    if pids is None:
        return {}
    out: dict[str, Any] = {"current": read_int(pids / "pids.current") or 0}
    limit = read_int(pids / "pids.max")
    if limit:
        out["limit"] = limit
    return out


def _blkio(blkio: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {key: [] for key in _BLKIO_CFQ}
    if blkio is None:
        return out
    files = _BLKIO_CFQ if (blkio / "blkio.io_serviced_recursive").exists() else _BLKIO_THROTTLE
    for key, name in files.items():
        out[key] = parse_blkio(read_text(blkio / name))
    return out


def parse_blkio(text: str) -> list[dict[str, Any]]:
    """``8:0 Read 4096`` lines (the final ``Total N`` line has no device and is dropped)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and ":" in fields[0]:
            major, _, minor = fields[0].partition(":")
            entries.append({"major": int(major), "minor": int(minor), "op": fields[1],
                            "value": int(fields[2])})
        elif len(fields) == 2 and ":" in fields[0]:  # blkio.time/sectors: no op column
            major, _, minor = fields[0].partition(":")
            entries.append({"major": int(major), "minor": int(minor), "op": "",
                            "value": int(fields[1])})
    return entries
