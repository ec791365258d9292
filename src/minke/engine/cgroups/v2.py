"""Stats of a cgroup v2 container in Docker's shape (what dockerd reports on a unified
host): cpu.stat, memory.current/max/stat, pids.current/max and io.stat of one directory.

Docker's v2 differences, kept: no ``percpu_usage`` and no ``max_usage``; memory ``stats``
carries v2's names (``anon``, ``file``, ``inactive_file``...); blkio has only
``io_service_bytes_recursive`` and ``io_serviced_recursive``, ops lower-case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minke.engine.cgroups.files import read_int, read_keyed, read_text

MEMORY_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
    "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
    "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
    "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
    "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
)


def read(directory: Path | None, host_memory: int) -> dict[str, Any]:
    """One reading of the cgroup v2 directory ``directory`` (None: the cgroup is gone)."""
    if directory is None:
        directory = Path("/nonexistent")
    stat = read_keyed(directory / "cpu.stat")
    return {
        "cpu_usage": {
            "total_usage": stat.get("usage_usec", 0) * 1000,
            "usage_in_kernelmode": stat.get("system_usec", 0) * 1000,
            "usage_in_usermode": stat.get("user_usec", 0) * 1000,
        },
        "throttling_data": {
            "periods": stat.get("nr_periods", 0),
            "throttled_periods": stat.get("nr_throttled", 0),
            "throttled_time": stat.get("throttled_usec", 0) * 1000,
        },
        "memory_stats": _memory(directory, host_memory),
        "pids_stats": _pids(directory),
        "blkio_stats": _io(directory),
    }


def _memory(directory: Path, host_memory: int) -> dict[str, Any]:
    if not (directory / "memory.current").exists():
        return {}
    raw = read_keyed(directory / "memory.stat")
    limit = read_int(directory / "memory.max")  # None for "max"
    return {
        "usage": read_int(directory / "memory.current") or 0,
        "stats": {k: raw[k] for k in MEMORY_KEYS if k in raw},
        "limit": limit if limit and (not host_memory or limit < host_memory) else host_memory,
    }


def _pids(directory: Path) -> dict[str, Any]:
    if not (directory / "pids.current").exists():
        return {}
    out: dict[str, Any] = {"current": read_int(directory / "pids.current") or 0}
    limit = read_int(directory / "pids.max")
    if limit:
        out["limit"] = limit
    return out


def _io(directory: Path) -> dict[str, Any]:
    service_bytes, serviced = parse_io_stat(read_text(directory / "io.stat"))
    return {
        "io_service_bytes_recursive": service_bytes,
        "io_serviced_recursive": serviced,
        "io_queue_recursive": None, "io_service_time_recursive": None,
        "io_wait_time_recursive": None, "io_merged_recursive": None,
        "io_time_recursive": None, "sectors_recursive": None,
    }


def parse_io_stat(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`` lines → Docker's
    (bytes, operations) entries per device, op "read"/"write"."""
    service_bytes: list[dict[str, Any]] = []
    serviced: list[dict[str, Any]] = []
    for line in text.splitlines():
        device, *pairs = line.split()
        major, sep, minor = device.partition(":")
        if not sep:
            continue
        values = dict(p.split("=", 1) for p in pairs if "=" in p)
        for op, bytes_key, ios_key in (("read", "rbytes", "rios"), ("write", "wbytes", "wios")):
            base = {"major": int(major), "minor": int(minor), "op": op}
            service_bytes.append({**base, "value": int(values.get(bytes_key, 0))})
            serviced.append({**base, "value": int(values.get(ios_key, 0))})
    return service_bytes, serviced
