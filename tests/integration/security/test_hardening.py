"""Docker's default hardening, seen from inside containers run by the real docker CLI:
capabilities and seccomp mode from /proc/self/status, masked /proc, and the five denials a
default container must meet (kernel modules, mounts, host processes, /proc/sys, host devices).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import docker as docker_py
import pytest
from tests.conftest import Daemon, unique
from tests.integration.security.security_support import docker, run

pytestmark = [pytest.mark.integration, pytest.mark.compat]

STATUS = "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status"


def status(daemon: Daemon, image: str, *flags: str) -> dict[str, str]:
    out = run(daemon, *flags, image, "sh", "-c", STATUS).stdout
    return dict(line.split(":\t", 1) for line in out.splitlines())


def test_default_capabilities_and_seccomp_filter(minke_daemon: Daemon, busybox_image: str) -> None:
    st = status(minke_daemon, busybox_image)
    assert st["CapEff"] == "00000000a80425fb" and st["CapBnd"] == "00000000a80425fb"
    assert st["Seccomp"] == "2"  # filter mode
    assert st["NoNewPrivs"] == "0"


def test_cap_add_drop_privileged_and_seccomp_modes(minke_daemon: Daemon,
                                                   busybox_image: str) -> None:
    st = status(minke_daemon, busybox_image, "--cap-add", "NET_ADMIN", "--cap-drop", "chown")
    assert int(st["CapEff"], 16) == 0xA80425FB & ~(1 << 0) | (1 << 12)
    assert status(minke_daemon, busybox_image, "--security-opt", "seccomp=unconfined")[
        "Seccomp"] == "0"
    privileged = status(minke_daemon, busybox_image, "--privileged")
    assert privileged["Seccomp"] == "0"
    own = int(Path("/proc/self/status").read_text().split("CapBnd:\t")[1].split()[0], 16)
    assert int(privileged["CapEff"], 16) == own  # every capability minked itself holds
    assert status(minke_daemon, busybox_image, "--security-opt", "no-new-privileges")[
        "NoNewPrivs"] == "1"


def test_custom_seccomp_profile_file(minke_daemon: Daemon, busybox_image: str,
                                     tmp_path: Path) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}))
    proc = run(minke_daemon, "--security-opt", f"seccomp={profile}", busybox_image,
               "mkdir", "/tmp/x", check=False)
    assert proc.returncode == 1 and "Operation not permitted" in proc.stderr


def test_proc_is_masked_and_read_only(minke_daemon: Daemon, busybox_image: str) -> None:
    out = run(minke_daemon, busybox_image, "sh", "-c",
              "cat /proc/kcore 2>/dev/null | wc -c; wc -c < /proc/timer_list; "
              "grep -c ' /proc/sys proc ro' /proc/mounts").stdout.split()
    # /proc/kcore: nothing readable (masked, or absent when the kernel has none).
    assert out == ["0", "0", "1"]


def test_cannot_load_a_kernel_module(minke_daemon: Daemon, busybox_image: str) -> None:
    proc = run(minke_daemon, busybox_image, "sh", "-c",
               "echo junk > /tmp/m.ko && insmod /tmp/m.ko", check=False)
    assert proc.returncode != 0 and "Operation not permitted" in proc.stderr


def test_cannot_mount_a_filesystem(minke_daemon: Daemon, busybox_image: str) -> None:
    proc = run(minke_daemon, busybox_image, "mount", "-t", "tmpfs", "none", "/mnt",
               check=False)
    assert proc.returncode != 0 and "permission denied" in proc.stderr.lower()


def test_cannot_see_host_processes(minke_daemon: Daemon, busybox_image: str) -> None:
    out = run(minke_daemon, busybox_image, "sh", "-c",
              "for p in /proc/[0-9]*; do cat $p/cmdline; echo; done").stdout
    assert "minke.daemon" not in out and "conmon" not in out
    assert len([line for line in out.splitlines() if line]) <= 3


def test_cannot_write_proc_sys(minke_daemon: Daemon, busybox_image: str) -> None:
    # Writing back the host's own value: harmless even if the denial were broken.
    value = Path("/proc/sys/kernel/printk_ratelimit").read_text().strip()
    proc = run(minke_daemon, busybox_image, "sh", "-c",
               f"echo {value} > /proc/sys/kernel/printk_ratelimit", check=False)
    assert proc.returncode != 0 and "Read-only file system" in proc.stderr


def test_cannot_reach_host_devices(minke_daemon: Daemon, busybox_image: str) -> None:
    dev = os.stat("/").st_dev  # the host's root block device
    major, minor = os.major(dev), os.minor(dev)
    proc = run(minke_daemon, busybox_image, "sh", "-c",
               f"mknod /tmp/disk b {major} {minor} && head -c 1 /tmp/disk > /dev/null",
               check=False)
    assert proc.returncode != 0 and "Operation not permitted" in proc.stderr
    listing = run(minke_daemon, busybox_image, "ls", "/dev").stdout.split()
    assert set(listing) <= {"console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts",
                            "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom",
                            "zero"}


def test_namespace_modes_sysctl_ulimit(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("ns")
    # shareable: Docker refuses --ipc container:<a private one>
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", "--ipc", "shareable",
           busybox_image, "sleep", "300")
    try:
        joined = run(minke_daemon, "--pid", f"container:{name}", busybox_image,
                     "ps", "-o", "args").stdout
        assert "sleep 300" in joined
        assert "sleep 300" not in run(minke_daemon, busybox_image, "ps", "-o", "args").stdout
        hostname = run(minke_daemon, "--uts", "host", busybox_image, "hostname").stdout.strip()
        assert hostname == os.uname().nodename
        out = run(minke_daemon, "--sysctl", "kernel.shmmni=1234", "--ulimit", "nofile=100:200",
                  "--ipc", f"container:{name}", busybox_image, "sh", "-c",
                  "cat /proc/sys/kernel/shmmni; ulimit -n; ulimit -Hn").stdout.split()
        assert out == ["1234", "100", "200"]
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
    assert run(minke_daemon, "--userns", "host", busybox_image, "true").returncode == 0
    proc = run(minke_daemon, "--sysctl", "kernel.sysrq=1", busybox_image, "true", check=False)
    assert proc.returncode == 125 and "kernel.sysrq" in proc.stderr  # the CLI's own check
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    try:  # the daemon refuses it too (docker-py sends it unchecked)
        with pytest.raises(docker_py.errors.APIError) as info:
            client.create_container(busybox_image, "true", host_config=client.create_host_config(
                sysctls={"kernel.sysrq": "1"}))
        assert info.value.status_code == 400
        assert 'sysctl "kernel.sysrq" is not in a separate kernel namespace' in str(info.value)
    finally:
        client.close()
    proc = run(minke_daemon, "--pid", "container:nosuch-ctr", busybox_image, "true",
               check=False)
    assert proc.returncode == 125 and "nosuch-ctr" in proc.stderr
