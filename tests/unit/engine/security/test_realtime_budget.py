"""The real-time CPU budget check (engine.cgroups.realtime) on fake v1 cpu hierarchies."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke.engine.cgroups.hierarchy import Hierarchy
from minke.engine.cgroups.realtime import check_realtime, realtime_budget
from minke.errors import InvalidParameter


def v1_cpu(root: Path, *, rt: bool = True, granted: int | None = None) -> Hierarchy:
    """A cpu hierarchy at ``root``; with ``granted``, a parent ``p`` with that runtime."""
    root.mkdir(exist_ok=True)
    if rt:
        (root / "cpu.rt_runtime_us").write_text("950000\n")
    if granted is not None:
        (root / "p").mkdir()
        (root / "p" / "cpu.rt_runtime_us").write_text(f"{granted}\n")
        (root / "p" / "cpu.rt_period_us").write_text("1000000\n")
    return Hierarchy(version=1, v1_mounts={"cpu": (root, "/")})


def test_budget_of_parents(tmp_path: Path) -> None:
    hierarchy = v1_cpu(tmp_path, granted=50000)
    assert realtime_budget("absent", hierarchy) == 0.0  # runc makes it with none
    assert realtime_budget("/p", hierarchy) == pytest.approx(0.05)
    assert realtime_budget("p", v1_cpu(tmp_path / "nort", rt=False)) is None
    assert realtime_budget("p", Hierarchy(version=2)) is None


def test_over_budget_and_over_period_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="budget of the cgroup parent /absent"):
        check_realtime({"CpuRealtimeRuntime": 10000}, "absent", v1_cpu(tmp_path))
    hierarchy = v1_cpu(tmp_path / "granted", granted=50000)
    with pytest.raises(InvalidParameter, match="cannot be higher than cpu real-time period"):
        check_realtime({"CpuRealtimeRuntime": 2000, "CpuRealtimePeriod": 1000}, "p", hierarchy)
    with pytest.raises(InvalidParameter, match=r"\(5% of a CPU\)"):
        check_realtime({"CpuRealtimeRuntime": 60000}, "p", hierarchy)
    host = {"CpuRealtimeRuntime": 10000, "CpuRealtimePeriod": 1000000}
    assert check_realtime(host, "p", hierarchy) == []
    assert host["CpuRealtimeRuntime"] == 10000


def test_without_kernel_support_the_fields_are_discarded_with_dockers_warning() -> None:
    host = {"CpuRealtimeRuntime": 10000, "CpuRealtimePeriod": 0}
    warnings = check_realtime(host, "p", Hierarchy(version=2))
    assert warnings == ["Your kernel does not support CPU real-time scheduler. "
                        "CPU real-time runtime discarded."]
    assert host["CpuRealtimeRuntime"] == 0
