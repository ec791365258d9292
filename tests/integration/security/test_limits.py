"""Resource limits through the real docker CLI: the cgroup files runc wrote, an OOM kill
(OOMKilled, exit 137, the ``oom`` event, also when conmon missed it), ``docker update`` of a
running container, and bad input refused with docker's texts, leaving every container as it
was."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time
from pathlib import Path

import docker as docker_py
import pytest
from tests.conftest import Daemon, cgroup_parent, unique
from tests.integration.security.security_support import (
    container_names,
    docker,
    inspect,
    run,
)
from tests.support.polling import wait_for

from minke.engine.cgroups import Hierarchy

pytestmark = [pytest.mark.integration, pytest.mark.compat]
MB = 1024 * 1024


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """A file of a container's cgroup, read on the host."""
    dirs = Hierarchy.detect().dirs_of_pid(pid)
    directory = dirs.v1[controller] if dirs.version == 1 else dirs.v2
    assert directory is not None
    return (Path(directory) / name).read_text().strip()


def test_limits_are_in_the_cgroup(minke_daemon: Daemon, busybox_image: str) -> None:
    out = run(minke_daemon, "--cpus", "0.5", "--memory", "64m", "--pids-limit", "40",
              "--cpu-shares", "512", "--cpuset-cpus", "0", busybox_image, "cat",
              "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
              "/sys/fs/cgroup/memory/memory.limit_in_bytes",
              "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
              "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cpu/cpu.shares",
              "/sys/fs/cgroup/cpuset/cpuset.cpus").stdout.split()
    assert out == ["50000", "100000", str(64 * MB), str(128 * MB), "40", "512", "0"]


def test_oom_kill_is_recorded(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("oom")
    since = str(int(time.time()) - 1)
    proc = docker(minke_daemon, "run", "--name", name, "--network", "none", "--memory", "8m",
                  busybox_image, "sh", "-c", "x=a; while true; do x=$x$x; done", check=False)
    try:
        assert proc.returncode == 137
        state = inspect(minke_daemon, name)["State"]
        assert state["OOMKilled"] is True and state["ExitCode"] == 137
        events = docker(minke_daemon, "events", "--since", since, "--until",
                        str(int(time.time()) + 1), "--filter", f"container={name}",
                        "--format", "{{.Action}}").stdout.split()
        assert "oom" in events and events.index("oom") < events.index("die")
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0] == b"Z"
    except OSError:
        return False


def _drain_event_fds(pid: int) -> None:
    """Consume what is pending on process ``pid``'s eventfds and inotify fds (copies taken
    with pidfd_getfd(2)), so that it never sees those events."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for entry in os.scandir(f"/proc/{pid}/fd"):
            if os.readlink(entry.path) not in ("anon_inode:[eventfd]", "anon_inode:inotify"):
                continue
            fd = libc.syscall(438, pidfd, int(entry.name), 0)  # SYS_pidfd_getfd
            assert fd >= 0, os.strerror(ctypes.get_errno())
            try:
                os.set_blocking(fd, False)
                while True:
                    try:
                        os.read(fd, 4096)
                    except BlockingIOError:
                        break
            finally:
                os.close(fd)
    finally:
        os.close(pidfd)


def test_oom_kill_missed_by_conmon_is_recorded(minke_daemon: Daemon, busybox_image: str) -> None:
    """conmon can quit at the container's exit before it has handled its OOM event (and then
    writes no oom file): the kernel's count in the memory cgroup still makes it OOMKilled.
    The race is made certain: conmon is stopped while the OOM killer acts, its pending
    events are consumed, then it goes on and sees only the exit."""
    name = unique("oommiss")
    since = str(int(time.time()) - 1)
    hog = "x=a; while true; do x=$x$x; done"
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", "--memory", "8m",
           busybox_image, "sh", "-c", f"trap '{hog}' USR1; while true; do sleep 0.1; done")
    conmon = 0
    try:
        state = inspect(minke_daemon, name)
        init = state["State"]["Pid"]
        bundle = minke_daemon.exec_root / "containers" / state["Id"]
        conmon = int((bundle / "conmon.pid").read_text())
        os.kill(conmon, signal.SIGSTOP)
        docker(minke_daemon, "kill", "--signal", "USR1", name)
        deadline = time.monotonic() + 30
        while not _zombie(init) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _zombie(init), "the memory hog was not killed"
        _drain_event_fds(conmon)
        os.kill(conmon, signal.SIGCONT)
        conmon = 0
        assert docker(minke_daemon, "wait", name).stdout.strip() == "137"
        # the race happened: conmon wrote no oom file
        persist = minke_daemon.exec_root / "monitor" / "persist" / state["Id"]
        assert persist.is_dir() and not (persist / "oom").exists()
        state = inspect(minke_daemon, name)["State"]
        assert state["OOMKilled"] is True and state["ExitCode"] == 137
        events = docker(minke_daemon, "events", "--since", since, "--until",
                        str(int(time.time()) + 1), "--filter", f"container={name}",
                        "--format", "{{.Action}}").stdout.split()
        assert "oom" in events and events.index("oom") < events.index("die")
    finally:
        if conmon:
            os.kill(conmon, signal.SIGCONT)
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_sigkill_is_no_oom_kill(minke_daemon: Daemon, busybox_image: str) -> None:
    """A 137 from ``docker kill`` of a memory-limited container is not taken for an OOM kill."""
    name = unique("kill")
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", "--memory", "8m",
           busybox_image, "sleep", "300")
    try:
        docker(minke_daemon, "kill", name)
        assert docker(minke_daemon, "wait", name).stdout.strip() == "137"
        state = inspect(minke_daemon, name)["State"]
        assert state["OOMKilled"] is False and state["ExitCode"] == 137
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_update_a_running_container(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("upd")
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", "--memory", "64m",
           "--cpus", "0.5", "--pids-limit", "30", busybox_image, "sleep", "300")
    try:
        pid = inspect(minke_daemon, name)["State"]["Pid"]
        docker(minke_daemon, "update", "--memory", "96m", "--memory-swap", "200m", "--cpus",
               "1.5", "--pids-limit", "-1", "--restart", "on-failure:3", name)
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(96 * MB)
        assert cgroup_file(pid, "memory", "memory.memsw.limit_in_bytes") == str(200 * MB)
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "150000"
        assert cgroup_file(pid, "pids", "pids.max") == "max"
        host = inspect(minke_daemon, name)["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == \
            (96 * MB, 200 * MB, 1_500_000_000, None)
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        # A refused update changes nothing, in the cgroup or in the record.
        proc = docker(minke_daemon, "update", "--cpus", "64", name, check=False)
        assert proc.returncode == 1 and "Range of CPUs is from 0.01" in proc.stderr
        proc = docker(minke_daemon, "update", "--cpu-quota", "20000", name, check=False)
        assert "CPU Quota cannot be updated as NanoCPUs has already been set" in proc.stderr
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "150000"
        assert inspect(minke_daemon, name)["HostConfig"] == host
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_bad_input_is_refused_and_nothing_is_created(minke_daemon: Daemon, busybox_image: str,
                                                     tmp_path: Path) -> None:
    before = container_names(minke_daemon)
    cases = [
        (["--memory", "10x"], 'invalid argument "10x" for "-m, --memory" flag'),
        (["--cpus", "-1"], "Range of CPUs is from 0.01 to"),
        (["--cap-add", "BOGUS"], 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
        (["--security-opt", f"seccomp={tmp_path}/missing.json"],
         f"opening seccomp profile ({tmp_path}/missing.json) failed"),
        (["--memory", "1m"], "Minimum memory limit allowed is 6MB"),
    ]
    for flags, message in cases:
        proc = run(minke_daemon, *flags, busybox_image, "true", check=False)
        assert proc.returncode == 125, (flags, proc.stderr)
        assert message in proc.stderr, (flags, proc.stderr)
    assert container_names(minke_daemon) == before


def test_api_refuses_an_unreadable_seccomp_file(minke_daemon: Daemon, busybox_image: str,
                                                tmp_path: Path) -> None:
    """docker-py passes security_opt as given: the daemon reads the file and names it."""
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    before = container_names(minke_daemon)
    try:
        for path in (tmp_path / "absent.json", bad):
            with pytest.raises(docker_py.errors.APIError) as info:
                client.create_container(busybox_image, "true", host_config=client.
                                        create_host_config(security_opt=[f"seccomp={path}"]))
            assert info.value.status_code == 400 and str(path) in str(info.value)
    finally:
        client.close()
    assert container_names(minke_daemon) == before


def test_blkio_weight_without_kernel_support_is_discarded(minke_daemon: Daemon,
                                                          busybox_image: str) -> None:
    name = unique("blk")
    docker(minke_daemon, "create", "--name", name, "--blkio-weight", "300", busybox_image)
    try:
        weight = inspect(minke_daemon, name)["HostConfig"]["BlkioWeight"]
        supported = Path("/sys/fs/cgroup/blkio/blkio.weight").exists()
        assert weight == (300 if supported else 0)
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_inspect_shows_dockers_resource_fields(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("rf")
    docker(minke_daemon, "create", "--name", name, "--memory", "64m", busybox_image)
    try:
        host = inspect(minke_daemon, name)["HostConfig"]
        assert host["MemorySwap"] == 128 * MB and host["CpuShares"] == 0
        assert json.dumps(host["PidsLimit"]) == "null"
        assert host["Ulimits"] == []  # as the docker CLI sends it, and Docker shows it
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_realtime_runtime_is_checked_against_the_parents_budget(minke_daemon: Daemon,
                                                                busybox_image: str) -> None:
    """A real-time runtime the kernel would refuse is the client's error (400 naming the
    budget), at run and at update; once the parent has a budget, runc writes it."""
    parent = Path("/sys/fs/cgroup/cpu") / cgroup_parent(minke_daemon.root)
    if not Path("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists():
        proc = docker(minke_daemon, "create", "--cpu-rt-runtime", "10000", busybox_image)
        assert "CPU real-time runtime discarded" in proc.stderr
        docker(minke_daemon, "rm", proc.stdout.strip())
        return
    name = unique("rt")
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", busybox_image,
           "sleep", "300")
    try:
        proc = docker(minke_daemon, "update", "--cpu-rt-runtime", "10000", name, check=False)
        assert proc.returncode == 1
        assert f"exceeds the real-time budget of the cgroup parent /{parent.name}" in proc.stderr
        assert inspect(minke_daemon, name)["HostConfig"]["CpuRealtimeRuntime"] == 0
        proc = run(minke_daemon, "--cpu-rt-runtime", "10000", busybox_image, "true",
                   check=False)
        assert proc.returncode == 125 and "real-time budget" in proc.stderr
        (parent / "cpu.rt_runtime_us").write_text("20000")
        docker(minke_daemon, "update", "--cpu-rt-runtime", "10000", name)
        pid = inspect(minke_daemon, name)["State"]["Pid"]
        assert cgroup_file(pid, "cpu", "cpu.rt_runtime_us") == "10000"
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_update_below_current_usage_is_the_clients_error(minke_daemon: Daemon,
                                                         busybox_image: str) -> None:
    """The kernel refuses a memory limit below what the container holds (tmpfs pages it
    cannot reclaim): 400 with runc's text, and the limit stays."""
    name = unique("busy")
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", "--memory", "64m",
           "--memory-swap", "64m", busybox_image, "sh", "-c",
           "dd if=/dev/zero of=/dev/shm/fill bs=1M count=30 && sleep 300")
    try:
        pid = inspect(minke_daemon, name)["State"]["Pid"]
        wait_for("the tmpfs file is written", lambda: int(
            cgroup_file(pid, "memory", "memory.usage_in_bytes")) > 30 * MB)
        client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
        try:
            with pytest.raises(docker_py.errors.APIError) as info:
                client.update_container(name, mem_limit="10m", memswap_limit="10m")
        finally:
            client.close()
        assert info.value.status_code == 400, info.value.explanation
        assert "Cannot update container" in str(info.value)
        assert "unable to set memory limit to 10485760" in str(info.value)
        assert inspect(minke_daemon, name)["HostConfig"]["Memory"] == 64 * MB
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 * MB)
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
