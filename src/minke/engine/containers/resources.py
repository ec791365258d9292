"""Resource limits: ``HostConfig``'s memory, CPU, pids and block-I/O fields, validated with
dockerd's rules and texts, and translated into the OCI ``linux.resources`` runc writes into
the container's cgroup (v1 or v2: runc converts, e.g. cpu shares to cpu.weight).

``ResourcesExtension`` checks a new container's limits and puts them into the spec at each
start; ``engine.cgroups.update`` changes them on a running container (``docker update``)
through the same ``validate`` and ``linux_resources``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from minke.engine.cgroups.realtime import check_realtime
from minke.engine.containers.extensions import ContainerExtension
from minke.errors import Conflict, InvalidParameter

Record = dict[str, Any]

MIN_MEMORY = 6 * 1024 * 1024  # bytes; dockerd's linuxMinMemory
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144  # the kernel's range, which dockerd clamps to
CFS_PERIOD = 100_000  # µs; the period dockerd pairs with --cpus
NANO = 1_000_000_000

# The fields ``docker update`` may change (Docker's container.UpdateConfig minus RestartPolicy).
UPDATABLE = (
    "BlkioWeight", "CpuShares", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
    "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Memory", "MemoryReservation",
    "MemorySwap", "KernelMemory", "NanoCpus", "PidsLimit",
)

# HostConfig resource fields and Docker's defaults, as inspect shows them.
DEFAULTS: dict[str, Any] = {
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0,
    "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
    "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
}


def _int(host: dict[str, Any], field: str) -> int:
    value = host.get(field)
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"invalid {field}: {value!r} is not a number")
    return int(value)


def parse_cpuset(text: str, field: str = "cpuset cpus") -> set[int]:
    """``0-2,4`` → {0, 1, 2, 4}; dockerd's "Invalid value" error otherwise."""
    cpus: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or (sep and int(hi) < int(lo)):
            raise InvalidParameter(f"Invalid value {text} for {field}")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _online(path: str) -> tuple[str, set[int]]:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        text = f"0-{(os.cpu_count() or 1) - 1}"
    return text, parse_cpuset(text) if text else set()


def blkio_weight_supported() -> bool:
    """dockerd's sysinfo check: a v1 blkio.weight file (CFQ), or v2's io.weight/io.bfq.weight."""
    return any(Path(p).exists() for p in (
        "/sys/fs/cgroup/blkio/blkio.weight", "/sys/fs/cgroup/io.weight",
        "/sys/fs/cgroup/io.bfq.weight",
    ))


def validate(host: dict[str, Any], *, update: bool = False) -> list[str]:
    """Check (and normalise in place) ``host``'s resource fields as dockerd's
    ``verifyPlatformContainerResources`` does; returns dockerd's warnings."""
    warnings: list[str] = []
    memory, swap = _int(host, "Memory"), _int(host, "MemorySwap")
    reservation = _int(host, "MemoryReservation")
    if memory < 0:
        raise InvalidParameter("invalid Memory: a memory limit cannot be negative")
    if 0 < memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise InvalidParameter(
            "You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = host.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= int(swappiness) <= 100:
        raise InvalidParameter(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if 0 < reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage")
    if host.get("OomKillDisable") and memory == 0 and not update:
        warnings.append("OOM killer is disabled for the container, but no memory limit is "
                        "set, this can result in the system running out of resources.")
    _validate_cpu(host)
    pids = host.get("PidsLimit")
    if pids is not None and int(pids) <= 0:
        host["PidsLimit"] = None  # <= 0 means unlimited, as dockerd
    weight = _int(host, "BlkioWeight")
    if weight and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    if weight and not blkio_weight_supported():
        warnings.append("Your kernel does not support Block I/O weight or the cgroup is not "
                        "mounted. Weight discarded.")
        host["BlkioWeight"] = 0
    return warnings


def _validate_cpu(host: dict[str, Any]) -> None:
    nano, period, quota = _int(host, "NanoCpus"), _int(host, "CpuPeriod"), _int(host, "CpuQuota")
    ncpu = os.cpu_count() or 1
    if nano and period:
        raise InvalidParameter(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > ncpu * NANO:
        raise InvalidParameter(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                               "than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    shares = _int(host, "CpuShares")
    if shares:
        host["CpuShares"] = min(max(shares, MIN_CPU_SHARES), MAX_CPU_SHARES)
    for field, label, online in (("CpusetCpus", "cpuset cpus", "/sys/devices/system/cpu/online"),
                                 ("CpusetMems", "cpuset mems", "/sys/devices/system/node/online")):
        wanted = host.get(field) or ""
        if not wanted:
            continue
        available_text, available = _online(online)
        if not parse_cpuset(wanted, label) <= available:
            kind = "CPUs" if field == "CpusetCpus" else "memory nodes"
            raise InvalidParameter(f"Requested {kind} are not available - requested "
                                   f"{wanted}, available: {available_text}")


def apply_defaults(host: dict[str, Any]) -> None:
    """Docker's defaults for absent resource fields, and swap = 2 x memory when only a
    memory limit is given (dockerd's ``adaptContainerSettings``)."""
    for key, value in DEFAULTS.items():
        if host.get(key) is None and value is not None:
            host[key] = list(value) if isinstance(value, list) else value
        host.setdefault(key, value)
    if _int(host, "Memory") > 0 and _int(host, "MemorySwap") == 0:
        host["MemorySwap"] = 2 * _int(host, "Memory")


def linux_resources(host: dict[str, Any]) -> dict[str, Any]:
    """The OCI ``linux.resources`` for ``host`` (without device rules, which are spec.py's)."""
    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if _int(host, "Memory"):
        memory["limit"] = _int(host, "Memory")
    if _int(host, "MemorySwap"):
        memory["swap"] = _int(host, "MemorySwap")  # memory+swap; -1 is unlimited
    if _int(host, "MemoryReservation"):
        memory["reservation"] = _int(host, "MemoryReservation")
    if host.get("OomKillDisable"):
        memory["disableOOMKiller"] = True
    if host.get("MemorySwappiness") not in (None, -1):
        memory["swappiness"] = int(host["MemorySwappiness"])
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if _int(host, "CpuShares"):
        cpu["shares"] = _int(host, "CpuShares")
    if _int(host, "NanoCpus"):
        cpu["period"] = CFS_PERIOD
        cpu["quota"] = _int(host, "NanoCpus") * CFS_PERIOD // NANO
    if _int(host, "CpuPeriod"):
        cpu["period"] = _int(host, "CpuPeriod")
    if _int(host, "CpuQuota"):
        cpu["quota"] = _int(host, "CpuQuota")
    if _int(host, "CpuRealtimePeriod"):
        cpu["realtimePeriod"] = _int(host, "CpuRealtimePeriod")
    if _int(host, "CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = _int(host, "CpuRealtimeRuntime")
    if host.get("CpusetCpus"):
        cpu["cpus"] = host["CpusetCpus"]
    if host.get("CpusetMems"):
        cpu["mems"] = host["CpusetMems"]
    if cpu:
        out["cpu"] = cpu
    if host.get("PidsLimit"):
        out["pids"] = {"limit": int(host["PidsLimit"])}
    if _int(host, "BlkioWeight"):
        out["blockIO"] = {"weight": _int(host, "BlkioWeight")}
    return out


def merge_update(host: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``host`` with ``docker update``'s changes applied as dockerd applies them (a zero or
    absent field keeps the current value); the result is validated, ``host`` untouched."""
    # Other Resources fields (CgroupParent, Devices, Ulimits...) come along in the CLI's
    # body with their zero values; dockerd ignores them, and so does minke.
    merged = dict(host)
    for key in UPDATABLE:
        value = changes.get(key)
        if key == "PidsLimit":
            if value is not None:
                merged[key] = int(value) if int(value) > 0 else None
            continue
        if value in (None, 0, ""):
            continue
        merged[key] = value
    memory, swap = _int(changes, "Memory"), _int(changes, "MemorySwap")
    if memory and swap == 0 and _int(host, "MemorySwap") > 0 and memory > _int(host, "MemorySwap"):
        raise Conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time")
    if _int(changes, "NanoCpus") and (_int(host, "CpuPeriod") or _int(host, "CpuQuota")):
        raise Conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota "
                       "has already been set")
    if (_int(changes, "CpuQuota") or _int(changes, "CpuPeriod")) and _int(host, "NanoCpus"):
        raise Conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has "
                       "already been set")
    validate(merged, update=True)
    return merged


class ResourcesExtension(ContainerExtension):
    """Checks limits at create (dockerd's texts, 400) and writes them into each start's spec.
    ``cgroup_parent`` is the daemon's, under which each container's cgroup is made."""

    def __init__(self, cgroup_parent: str) -> None:
        self._cgroup_parent = cgroup_parent

    async def created(self, record: Record) -> None:
        host = record["HostConfig"]
        validate(host)
        check_realtime(host, self._cgroup_parent)
        apply_defaults(host)

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        resources = spec["linux"].setdefault("resources", {})
        resources.update(linux_resources(record["HostConfig"]))
