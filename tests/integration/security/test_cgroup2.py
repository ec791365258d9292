"""The cgroup v2 stats path on a real cgroup2 hierarchy.

This host is v1 hybrid: its controllers are bound to v1, and the cgroup2 tree has none (the
kernel lets a controller live in one hierarchy only, and moving them would disturb everything
else on the machine). So the test mounts a fresh cgroup2 in a private mount namespace,
makes its own cgroup there, runs a CPU-burning process in it and reads it through minke's
``Hierarchy`` / ``v2`` / ``StatsService`` exactly as a v2 host would be read. What the kernel
gives a controller-less cgroup2 (cpu.stat's usage, cgroup.procs) is checked for real; the
memory, pids and io files need their controllers and are checked only where the hierarchy
offers them (on a v2 host this same test checks them too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import unique

pytestmark = [pytest.mark.integration]

SCRIPT = r'''
import asyncio, json, os, subprocess, sys, tempfile, time
from pathlib import Path
from minke.engine.cgroups import Hierarchy, StatsService
from minke.engine.cgroups import v2

name = sys.argv[1]
mount = Path(tempfile.mkdtemp(prefix="mk-cg2-"))
subprocess.run(["mount", "-t", "cgroup2", "none", str(mount)], check=True)
group = mount / name
burner = None
try:
    group.mkdir()
    burner = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    (group / "cgroup.procs").write_text(str(burner.pid))
    time.sleep(0.6)
    hierarchy = Hierarchy(version=2, v2_mount=(mount, "/"))
    dirs = hierarchy.dirs_of_pid(burner.pid)
    record = {"Id": name, "Name": "/" + name, "State": {"Running": True, "Pid": burner.pid},
              "HostConfig": {"NetworkMode": "none"}}
    stats = StatsService(lambda ref: record, hierarchy=hierarchy)
    doc = asyncio.run(stats.one_shot(name))
    print(json.dumps({
        "dir": str(dirs.v2), "expected": str(group),
        "controllers": (mount / "cgroup.controllers").read_text().split(),
        "reading": v2.read(dirs.v2, 0), "doc": doc,
    }))
finally:
    if burner is not None:
        burner.kill()
        burner.wait()
    if group.exists():
        group.rmdir()
    subprocess.run(["umount", str(mount)], check=False)
    mount.rmdir()
'''


def test_v2_stats_from_a_real_cgroup2_hierarchy() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is needed to make a private mount namespace")
    if "cgroup2" not in Path("/proc/filesystems").read_text():
        pytest.skip("this kernel has no cgroup2")
    name = unique("minke-test-cg2")
    try:
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", SCRIPT,
             name], capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")},
        )
    finally:
        # The cgroup2 tree is one for the whole machine: make sure ours is gone.
        for leftover in (Path("/sys/fs/cgroup/unified") / name, Path("/sys/fs/cgroup") / name):
            if leftover.is_dir() and not (leftover / "cgroup.procs").read_text().strip():
                leftover.rmdir()
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["dir"] == result["expected"]  # found through /proc/<pid>/cgroup
    doc = result["doc"]
    cpu, pre = doc["cpu_stats"], doc["precpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] > pre["cpu_usage"]["total_usage"] > 0
    assert "percpu_usage" not in cpu["cpu_usage"]  # v2 has none, as in Docker
    assert cpu["cpu_usage"]["usage_in_usermode"] > 0
    assert cpu["system_cpu_usage"] > pre["system_cpu_usage"]
    assert doc["blkio_stats"]["io_queue_recursive"] is None
    controllers = result["controllers"]
    if "memory" in controllers:
        assert doc["memory_stats"]["usage"] > 0 and "inactive_file" in doc["memory_stats"]["stats"]
    else:
        assert doc["memory_stats"] == {}  # no memory controller here: nothing invented
    if "pids" in controllers:
        assert doc["pids_stats"]["current"] >= 1
    else:
        assert doc["pids_stats"] == {}
