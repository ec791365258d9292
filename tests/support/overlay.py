"""An overlay network across the bare nodes of a cluster (``Cluster.start(n,
daemons=False)``), made by minke's own data path without the daemons around it: on every
node the real ``OverlayDriver`` (bridge, VXLAN port, peers, load-balancer address) and
``Firewall`` (service VIP and routing-mesh rules), run inside the node's namespace, and
"tasks" that are plain network namespaces joined by the driver as a container would be.
What the tests and ``bench/overlay_throughput.py`` share.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from minke.engine.network import netns
from minke.engine.network.driver import Endpoint, NetworkInfo
from minke.engine.network.drivers.overlay import VNI_OPTION, OverlayDriver
from minke.engine.network.firewall import BridgeRules, Firewall, ServiceRules
from minke.engine.network.vxlan import Peer, endpoint_mac
from tests.support.cluster import Cluster, Node

T = TypeVar("T")


@dataclass
class Task:
    """A task stand-in: a network namespace on a node with one endpoint on the overlay."""

    node: int
    netns: str
    ip: str

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.netns

    def run(self, *args: str, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["nsenter", f"--net={self.path}", "--", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.netns}: {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["nsenter", f"--net={self.path}", "--", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)


@dataclass
class OverlayLab:
    """One overlay network (``subnet`` /24, gateway .1, VNI ``vni``) on every node of
    ``cluster``; node ``i``'s load-balancer address is ``.250 - i``."""

    cluster: Cluster
    vni: int = 4242
    prefix: str = "10.99.0"
    tasks: list[Task] = field(default_factory=list)
    drivers: list[OverlayDriver] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    services: list[ServiceRules] = field(default_factory=list)

    @property
    def network(self) -> NetworkInfo:
        return NetworkInfo(id="lab" + self.cluster.token, name="lab", driver="overlay",
                           interface=f"{self.cluster.prefix}o",
                           subnets=[(f"{self.prefix}.0/24", f"{self.prefix}.1")],
                           options={VNI_OPTION: str(self.vni)})

    def lb(self, i: int) -> str:
        return f"{self.prefix}.{250 - i}"

    def in_node(self, i: int, fn: Callable[[], T]) -> T:
        return netns.run_in(f"/run/netns/{self.cluster.node(i).netns}", fn)

    def create(self) -> None:
        """The network on every node: bridge and VXLAN port."""
        for node in self.cluster.nodes:
            driver = OverlayDriver(node.root / "lab")
            driver.data_path = node.addr
            self.drivers.append(driver)
            self.in_node(node.index, lambda d=driver: d.create(self.network))

    def add_task(self, i: int) -> Task:
        """A task on node ``i``, joined by the driver, its address the next free one."""
        ip = f"{self.prefix}.{10 + len(self.tasks)}"
        task = Task(i, f"{self.cluster.prefix}t{len(self.tasks)}", ip)
        subprocess.run(["ip", "netns", "add", task.netns], check=True)
        self.tasks.append(task)
        endpoint = Endpoint(id=os.urandom(16).hex(), network_id=self.network.id,
                            container_id=task.netns, ifname="eth0",
                            host_ifname="veth" + os.urandom(3).hex(), mac=endpoint_mac(ip),
                            ipv4=f"{ip}/24", gateway4=f"{self.prefix}.1", default_route=True)
        driver = self.drivers[i]
        self.in_node(i, lambda: driver.join(self.network, endpoint, task.path))
        return task

    def program(self) -> None:
        """Every node as the cluster state says: peers (the other nodes' tasks and
        load-balancer addresses), its own load-balancer address, and the firewall with
        the services' VIPs and ingress ports."""
        for node in self.cluster.nodes:
            self.program_node(node)

    def program_node(self, node: Node) -> None:
        i = node.index
        peers = [Peer(t.ip, self.cluster.node(t.node).addr) for t in self.tasks if t.node != i]
        peers += [Peer(self.lb(n.index), n.addr) for n in self.cluster.nodes if n.index != i]
        driver = self.drivers[i]

        def apply() -> None:
            driver.program(self.network, self.lb(i), peers)
            driver.set_vips(self.network, {v for s in self.services for v, _ in s.vips})
            Firewall(node.bridge).apply(
                [BridgeRules(self.network.interface, (f"{self.prefix}.0/24",),
                             snat_to=driver.address(self.network.id))], [], self.services)
        self.in_node(i, apply)

    def serve_http(self, task: Task, port: int = 80) -> None:
        """busybox httpd in ``task``, answering ``/name`` with the task's namespace name."""
        root = self.cluster.node(task.node).root / f"www-{task.netns}"
        root.mkdir(exist_ok=True)
        (root / "name").write_text(task.netns + "\n")
        self.processes.append(task.popen("busybox", "httpd", "-f", "-p", str(port),
                                         "-h", str(root)))

    def close(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        # Every task namespace of this lab, also one a test took out of ``tasks``.
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        for name in (line.split()[0] for line in listing.stdout.splitlines() if line):
            if name.startswith(f"{self.cluster.prefix}t"):
                subprocess.run(["ip", "netns", "del", name], check=False)
        for driver in self.drivers:
            driver.close()


def http_get(run: Callable[..., Any], url: str, timeout: float = 2) -> str:
    """The body curl gets from ``url`` with ``run`` (a node's or task's ``run``), "" on
    failure."""
    proc = run("curl", "-s", "-m", str(timeout), url, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def wait_listening(task: Task, port: int, deadline: float = 10) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if f":{port} " in task.run("busybox", "netstat", "-ltn", check=False).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {task.ip}:{port}")
