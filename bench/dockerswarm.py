"""A multi-node Docker swarm on this host for the benchmarks to compare with: N private
dockerds (``../shared/tools/docker-anchor``, each in a network namespace of its own), tied
together by a veth each on an underlay bridge with addresses from 198.18.0.0/15, the first
the manager, the others joined as workers. ``cut(i)``/``heal(i)`` take a node's link down
and up (what the manager sees of a dead node: no heartbeats). ``close()`` leaves the swarm,
stops the daemons and removes the links, the bridge and the directories."""

from __future__ import annotations

import ipaddress
import json
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ANCHOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "docker-anchor"


def _run(*args: str, check: bool = True) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=check).stdout


def _free_subnet() -> ipaddress.IPv4Network:
    routes = json.loads(_run("ip", "-j", "route", "show", "table", "all", check=False) or "[]")
    used = []
    for route in routes:
        try:
            used.append(ipaddress.ip_network(route.get("dst", ""), strict=False))
        except ValueError:
            continue
    while True:
        subnet = ipaddress.ip_network(f"198.19.{random.randint(128, 254)}.0/24")
        if not any(subnet.overlaps(u) for u in used if u.prefixlen > 0 and u.version == 4):
            return subnet


class DockerSwarm:
    def __init__(self, n: int) -> None:
        self.n = n
        self.token = f"dsw{secrets.token_hex(3)}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.token}-", dir="/tmp"))
        self.subnet = _free_subnet()
        self.addrs = [str(self.subnet[i + 2]) for i in range(n)]
        self.started: list[int] = []

    def host(self, i: int) -> str:
        return f"unix://{self.dir}/a{i}/docker.sock"

    def docker(self, i: int, *args: str, check: bool = True) -> str:
        return _run("docker", "-H", self.host(i), *args, check=check).strip()

    def __enter__(self) -> DockerSwarm:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        bridge = f"{self.token}b"
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "link", "set", bridge, "up")
        for i in range(self.n):
            _run(str(ANCHOR), "start", str(self.dir / f"a{i}"))
            self.started.append(i)
            pid = (self.dir / f"a{i}" / "dockerd.pid").read_text().strip()
            host_end, node_end = f"{self.token}h{i}", f"{self.token}n{i}"
            _run("ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end)
            _run("ip", "link", "set", node_end, "netns", pid)
            _run("ip", "link", "set", host_end, "master", bridge)
            _run("ip", "link", "set", host_end, "up")
            inside = ["nsenter", "-t", pid, "-n", "ip"]
            _run(*inside, "addr", "add", f"{self.addrs[i]}/24", "dev", node_end)
            _run(*inside, "link", "set", node_end, "up")
        self.docker(0, "swarm", "init", "--advertise-addr", self.addrs[0])
        token = self.docker(0, "swarm", "join-token", "-q", "worker")
        for i in range(1, self.n):
            self.docker(i, "swarm", "join", "--token", token, f"{self.addrs[0]}:2377")

    def node_id(self, i: int) -> str:
        return self.docker(i, "info", "--format", "{{.Swarm.NodeID}}")

    def cut(self, i: int) -> None:
        _run("ip", "link", "set", f"{self.token}h{i}", "down")

    def heal(self, i: int) -> None:
        _run("ip", "link", "set", f"{self.token}h{i}", "up")

    def close(self) -> None:
        for i in reversed(self.started):
            self.docker(i, "swarm", "leave", "--force", check=False)
        for i in self.started:
            _run(str(ANCHOR), "stop", str(self.dir / f"a{i}"), check=False)
        for i in range(self.n):
            _run("ip", "link", "del", f"{self.token}h{i}", check=False)
        _run("ip", "link", "del", f"{self.token}b", check=False)
        deadline = time.monotonic() + 30
        while str(self.dir) in Path("/proc/mounts").read_text() and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        if str(self.dir) not in Path("/proc/mounts").read_text():
            shutil.rmtree(self.dir, ignore_errors=True)
