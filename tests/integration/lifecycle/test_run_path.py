"""The create → attach → start → wait → remove path of ``docker run`` with the real docker CLI,
where it runs steps side by side: the network's interfaces are plumbed while the runtime
creates the container (yet complete when its process starts, and before the runtime applies
``net.*`` sysctls), the runtime's clean-up overlaps the release of the root filesystem (not
for ``--pid=host``) and, for ``--rm``, ends after the removal was answered; ``--rm`` leaves
none of the container's files in place when it returns, and its root filesystem is a volatile
overlay (nothing synced at its exit)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from tests.conftest import (
    Daemon,
    cgroup_parent,
    private_daemon,
    start_daemon,
    stop_daemon,
    unique,
)
from tests.integration.lifecycle.lifecycle_support import docker, inspect, wait_for
from tests.support.busybox import make_rootfs_dir
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.compat, needs_docker_cli]


def _leftovers(daemon: Daemon, cid: str) -> list[str]:
    """What of container ``cid`` is still where the daemon keeps its files."""
    places = [daemon.data_root / "containers" / cid, daemon.exec_root / "containers" / cid,
              daemon.exec_root / "netns" / cid]
    return [str(p) for p in places if p.exists()]


def _in_runtime(daemon: Daemon, cid: str) -> bool:
    runc = subprocess.run(["runc", "--root", str(daemon.exec_root / "runc"), "list", "-q"],
                          capture_output=True, text=True, check=True)
    return cid in runc.stdout.split()


def test_process_finds_its_network_complete_at_start(minke_daemon: Daemon,
                                                     busybox_image: str) -> None:
    out = docker_text(minke_daemon, "run", "--rm", busybox_image, "sh", "-c",
                      "ip -4 -o addr show eth0; ip route; tail -n 1 /etc/hosts").stdout
    lines = out.splitlines()
    address = lines[-1].split()[0]  # the hosts file names the container's own address
    assert address.count(".") == 3 and f"inet {address}/" in lines[0], out
    assert any(line.startswith("default via ") and "dev eth0" in line for line in lines), out


def test_net_sysctl_of_an_interface_is_applied(minke_daemon: Daemon, busybox_image: str) -> None:
    # the runtime writes it while it creates the container: eth0 must exist by then
    out = docker_text(minke_daemon, "run", "--rm", "--sysctl",
                      "net.ipv4.conf.eth0.route_localnet=1", busybox_image,
                      "cat", "/proc/sys/net/ipv4/conf/eth0/route_localnet").stdout
    assert out.strip() == "1"


def test_failed_port_publication_fails_the_start_and_frees_everything(
        minke_daemon: Daemon, busybox_image: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    name = unique("port")
    try:
        proc = docker_text(minke_daemon, "run", "--name", name, "-p", f"127.0.0.1:{port}:80",
                           busybox_image, "sleep", "1000", check=False)
        assert proc.returncode == 125, proc.stderr
        # the network's own words, not wrapped as the runtime's ("OCI runtime create failed")
        assert "address already in use" in proc.stderr and "OCI runtime" not in proc.stderr
        record = inspect(minke_daemon, name)
        assert record["State"]["Status"] == "created"
        assert not record["NetworkSettings"]["SandboxKey"]
        assert not record["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert not (minke_daemon.exec_root / "netns" / record["Id"]).exists()
    finally:
        taken.close()
    docker(minke_daemon, "start", name)  # the port is free now: nothing of the try is held
    assert inspect(minke_daemon, name)["NetworkSettings"]["Ports"]["80/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": str(port)}]
    docker(minke_daemon, "rm", "-f", name)


@pytest.mark.parametrize("pid_mode", [[], ["--pid=host"]])
def test_run_rm_leaves_nothing_in_place(minke_daemon: Daemon, busybox_image: str,
                                        pid_mode: list[str], tmp_path: Path) -> None:
    name = unique("rm")
    cidfile = tmp_path / "cid"
    proc = docker_text(minke_daemon, "run", "--rm", "--name", name, "--cidfile", str(cidfile),
                       *pid_mode, busybox_image, "sh", "-c", "echo out; exit 3", check=False)
    assert (proc.returncode, proc.stdout) == (3, "out\n"), proc.stderr
    assert docker_text(minke_daemon, "ps", "-aq", "--filter", f"name={name}").stdout == ""
    cid = cidfile.read_text().strip()
    assert _leftovers(minke_daemon, cid) == []
    # the runtime's own clean-up may end just after the removal was answered
    wait_for("runc to forget the container", lambda: not _in_runtime(minke_daemon, cid))


def test_only_an_auto_removed_container_has_a_volatile_root(minke_daemon: Daemon,
                                                            busybox_image: str) -> None:
    # overlayfs' volatile option (shown as "fsync=volatile" by newer kernels): the unmount
    # at the exit does not sync the filesystem under the upper directory
    script = "grep ' / / ' /proc/self/mountinfo"
    removed = docker_text(minke_daemon, "run", "--rm", busybox_image, "sh", "-c", script)
    name = unique("kept")
    kept = docker_text(minke_daemon, "run", "--name", name, busybox_image, "sh", "-c", script)
    docker(minke_daemon, "rm", "-f", name)
    assert " - overlay " in removed.stdout and " - overlay " in kept.stdout, kept.stdout
    assert "volatile" in removed.stdout and "volatile" not in kept.stdout, kept.stdout


def test_start_of_a_created_container_runs_it_once(minke_daemon: Daemon,
                                                   busybox_image: str) -> None:
    name = unique("start")
    cid = docker_text(minke_daemon, "create", "--name", name, busybox_image,
                      "sleep", "1000").stdout.strip()
    docker(minke_daemon, "start", name)
    runc = subprocess.run(["runc", "--root", str(minke_daemon.exec_root / "runc"), "state",
                           cid], capture_output=True, text=True, check=True)
    assert '"status": "running"' in runc.stdout
    assert not (minke_daemon.exec_root / "runc" / cid / "exec.fifo").exists()
    again = docker_text(minke_daemon, "start", name)  # already running: nothing happens
    assert again.returncode == 0
    docker(minke_daemon, "rm", "-f", name)


def test_runtime_state_no_record_knows_goes_at_daemon_start(tmp_path: Path) -> None:
    # what a crash leaves when it cuts short the runtime's clean-up of a --rm container
    with private_daemon("mk-runpath-") as daemon:
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        make_rootfs_dir(bundle / "rootfs")
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["process"].update(terminal=False, args=["sleep", "1000"])
        spec["linux"]["cgroupsPath"] = f"/{cgroup_parent(daemon.root)}/orphan"
        (bundle / "config.json").write_text(json.dumps(spec))
        orphan = "orphan" + "0" * 58
        subprocess.run(["runc", "--root", str(daemon.exec_root / "runc"), "create",
                        "--bundle", str(bundle), orphan], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # the init keeps what it is given open
        try:
            assert _in_runtime(daemon, orphan)
            stop_daemon(daemon)
            daemon.process = start_daemon(daemon.root).process
            assert not _in_runtime(daemon, orphan)
        finally:
            subprocess.run(["runc", "--root", str(daemon.exec_root / "runc"), "delete",
                            "--force", orphan], capture_output=True)
