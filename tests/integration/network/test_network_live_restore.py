"""Live restore of networking: with minked stopped, a published port and container-to-
container traffic keep working; the next minked serves DNS again and cleans up after
containers that exited meanwhile. Uses a daemon of its own (it is stopped mid-test)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import (
    Daemon,
    bridge_name,
    cleanup_root,
    remove_all_containers,
    start_daemon,
    stop_daemon,
    unique,
)
from tests.support.busybox import write_rootfs_tar
from tests.support.cli import docker_text as docker

pytestmark = [pytest.mark.integration, pytest.mark.compat]


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="mk-nlr-", dir="/tmp"))
    daemon = start_daemon(root)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tar = write_rootfs_tar(Path(tmp) / "rootfs.tar")
            docker(daemon, "import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        yield daemon
    finally:
        if daemon.process.poll() is not None:
            daemon = start_daemon(root)
        remove_all_containers(daemon)
        for line in docker(daemon, "network", "ls", "--format", "{{.Name}}").stdout.split():
            if line not in ("bridge", "host", "none"):
                docker(daemon, "network", "rm", line, check=False)
        stop_daemon(daemon)
        cleanup_root(root)


def get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as reply:
        return reply.read().decode().strip()


def test_ports_and_links_survive_the_daemon(own_daemon: Daemon) -> None:
    net = unique("lr")
    docker(own_daemon, "network", "create", net)
    docker(own_daemon, "run", "-d", "--name", "web", "--network", net, "-p", "127.0.0.1::80",
           "busybox", "sh", "-c", "mkdir /www && echo up > /www/index.html && "
           "exec httpd -f -p 80 -h /www")
    docker(own_daemon, "run", "-d", "--name", "client", "--network", net, "busybox",
           "sleep", "600")
    port = int(docker(own_daemon, "port", "web", "80").stdout.strip().rsplit(":", 1)[1])
    web_ip = json.loads(docker(own_daemon, "inspect", "web").stdout)[0][
        "NetworkSettings"]["Networks"][net]["IPAddress"]
    client_pid = json.loads(docker(own_daemon, "inspect", "client").stdout)[0]["State"]["Pid"]
    assert get(port) == "up"

    stop_daemon(own_daemon)
    assert get(port) == "up"  # kernel NAT, no daemon on the path
    inside = subprocess.run(
        ["nsenter", "-t", str(client_pid), "-n", "-m", "timeout", "5", "wget", "-q", "-O", "-",
         f"http://{web_ip}/index.html"], capture_output=True, text=True)
    assert inside.stdout.strip() == "up", inside.stderr

    daemon = start_daemon(own_daemon.root)
    own_daemon.process = daemon.process
    assert get(port) == "up"
    out = docker(own_daemon, "exec", "client", "nslookup", "web").stdout
    assert web_ip in out
    nft = subprocess.run(["nft", "list", "table", "inet", "minke_" + bridge_name(
        own_daemon.root)], capture_output=True, text=True).stdout
    assert nft.count(f"dport {port} ") == 1  # rebuilt, not duplicated
