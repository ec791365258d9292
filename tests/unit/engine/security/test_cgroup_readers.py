"""The cgroup readers' parsing: mountinfo → hierarchy, /proc/<pid>/cgroup, v1 blkio files,
v2 io.stat and the OOM-kill counts of both versions, in the formats the kernel writes them."""

from __future__ import annotations

from pathlib import Path

from minke.engine.cgroups.hierarchy import CgroupDirs, Hierarchy, parse_proc_cgroup
from minke.engine.cgroups.oom import oom_kills
from minke.engine.cgroups.v1 import parse_blkio
from minke.engine.cgroups.v2 import parse_io_stat

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_hybrid_host_is_v1_with_joined_controllers() -> None:
    h = Hierarchy.detect(HYBRID)
    assert h.version == 1
    assert h.v1_mounts["cpuacct"] == (Path("/sys/fs/cgroup/cpu,cpuacct"), "/")
    dirs = h.dirs(parse_proc_cgroup("4:memory:/minke/abc\n2:cpu,cpuacct:/minke/abc\n0::/\n"))
    assert dirs.v1["memory"] == Path("/sys/fs/cgroup/memory/minke/abc")
    assert dirs.v1["cpu"] == Path("/sys/fs/cgroup/cpu,cpuacct/minke/abc")


def test_unified_host_is_v2() -> None:
    h = Hierarchy.detect(UNIFIED)
    assert h.version == 2
    assert h.dirs({"": "/minke/abc"}).v2 == Path("/sys/fs/cgroup/minke/abc")


def test_v1_blkio_lines() -> None:
    text = "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n"
    assert parse_blkio(text) == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 512},
        {"major": 8, "minor": 0, "op": "Total", "value": 4608},
    ]


def test_v2_io_stat() -> None:
    service, ops = parse_io_stat("254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n")
    assert service == [{"major": 254, "minor": 0, "op": "read", "value": 4096},
                       {"major": 254, "minor": 0, "op": "write", "value": 8192}]
    assert [o["value"] for o in ops] == [1, 2]


def test_oom_kills_of_both_versions(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "memory", tmp_path / "unified"
    v1.mkdir()
    v2.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (v2 / "memory.events").write_text(
        "low 0\nhigh 0\nmax 31\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert oom_kills(CgroupDirs(version=1, v1={"memory": v1})) == 2
    assert oom_kills(CgroupDirs(version=2, v2=v2)) == 1
    # unknown: a kernel before 4.13 (no counter), no memory controller, the cgroup gone
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    assert oom_kills(CgroupDirs(version=1, v1={"memory": v1})) is None
    assert oom_kills(CgroupDirs(version=1, v1={"cpu": v1})) is None
    assert oom_kills(CgroupDirs(version=2, v2=tmp_path / "gone")) is None
    assert oom_kills(CgroupDirs(version=2)) is None
