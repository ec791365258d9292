"""The real-time CPU budget a container may take: ``CpuRealtimePeriod``/``CpuRealtimeRuntime``
checked before runc writes them, so that a request the kernel would refuse is the client's
error (400, naming the budget), not a failed start or update.

Real-time group scheduling exists only on cgroup v1 with the kernel's RT_GROUP_SCHED (a
``cpu.rt_runtime_us`` file at the hierarchy's root); elsewhere dockerd discards both fields
with a warning, and so does minke. A child cgroup's real-time runtime, as a share of its
period, can never exceed its parent's; a cgroup the runtime creates starts with none, so a
container under a fresh parent has no budget until an administrator grants the parent one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minke.engine.cgroups.hierarchy import Hierarchy
from minke.errors import InvalidParameter

RUNTIME_FILE, PERIOD_FILE = "cpu.rt_runtime_us", "cpu.rt_period_us"


def realtime_budget(cgroup_parent: str, hierarchy: Hierarchy | None = None) -> float | None:
    """The share of CPU time (0..1) real-time tasks under ``cgroup_parent`` may take, or
    None when the kernel has no real-time group scheduling. A parent that does not exist yet
    is made by the runtime with no budget (0)."""
    hierarchy = hierarchy or Hierarchy.detect()
    mount = hierarchy.v1_mounts.get("cpu")
    if hierarchy.version != 1 or mount is None or not (mount[0] / RUNTIME_FILE).exists():
        return None
    directory = mount[0] / cgroup_parent.strip("/")
    if not directory.is_dir():
        return 0.0
    runtime, period = _read(directory / RUNTIME_FILE), _read(directory / PERIOD_FILE)
    if runtime < 0:  # -1: unlimited
        return 1.0
    return runtime / period if period > 0 else 0.0


def _read(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def check_realtime(host: dict[str, Any], cgroup_parent: str,
                   hierarchy: Hierarchy | None = None) -> list[str]:
    """dockerd's checks of the real-time fields (normalising ``host`` in place), then the
    parent's budget; returns dockerd's warnings, raises InvalidParameter (400)."""
    period = int(host.get("CpuRealtimePeriod") or 0)
    runtime = int(host.get("CpuRealtimeRuntime") or 0)
    if not period and not runtime:
        return []
    budget = realtime_budget(cgroup_parent, hierarchy)
    if budget is None:
        warnings = []
        for field, what in (("CpuRealtimePeriod", "period"), ("CpuRealtimeRuntime", "runtime")):
            if host.get(field):
                warnings.append("Your kernel does not support CPU real-time scheduler. "
                                f"CPU real-time {what} discarded.")
                host[field] = 0
        return warnings
    if period and runtime > period:
        raise InvalidParameter("cpu real-time runtime cannot be higher than cpu real-time period")
    share = runtime / (period or 1_000_000)  # the kernel's default period is 1 s
    if share > budget:
        raise InvalidParameter(
            f"CpuRealtimeRuntime {runtime}µs per {period or 1_000_000}µs exceeds the real-time "
            f"budget of the cgroup parent /{cgroup_parent.strip('/')} ({budget:.0%} of a CPU): "
            f"grant it one in its {RUNTIME_FILE} first")
    return []
