"""The overlay data path across nodes, on bare nodes of the cluster harness with minke's
own driver and firewall (``tests/support/overlay.py``): VXLAN between nodes, the MTU taken
from the underlay, peers following the cluster state, and the routing mesh answering a
published port on a node with no task of the service."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from tests.support.cluster import Cluster, cluster
from tests.support.overlay import OverlayLab, http_get, wait_listening
from tests.support.polling import wait_for

from minke.engine.network.firewall import ServiceRules

pytestmark = pytest.mark.integration

VIP = "10.99.0.200"


@pytest.fixture(scope="module")
def bare() -> Iterator[Cluster]:
    with cluster(3, daemons=False) as c:
        yield c


@pytest.fixture
def lab(bare: Cluster) -> Iterator[OverlayLab]:
    lab = OverlayLab(bare)
    try:
        lab.create()
        yield lab
    finally:
        lab.close()
        for node in bare.nodes:  # the network goes: bridge, VXLAN port, rules
            node.run("ip", "link", "del", lab.network.interface, check=False)
            node.run("nft", "delete", "table", "inet", f"minke_{node.bridge}", check=False)


def on_host(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def pings(task, ip: str) -> bool:  # type: ignore[no-untyped-def]
    return task.run("busybox", "ping", "-c1", "-W1", ip, check=False).returncode == 0


def test_tasks_on_two_nodes_reach_each_other_over_vxlan(lab: OverlayLab) -> None:
    a, b = lab.add_task(0), lab.add_task(1)
    assert not pings(a, b.ip)  # no peers programmed: nothing is flooded or learnt
    lab.program()
    assert pings(a, b.ip)
    assert pings(b, a.ip)
    link = json.loads(lab.cluster.node(0).run(
        "ip", "-d", "-j", "link", "show", "vx-001092").stdout)[0]
    data = link["linkinfo"]["info_data"]
    assert (data["id"], data["port"], data["local"]) == (4242, 4789, lab.cluster.node(0).addr)
    assert not data.get("learning")
    assert link["master"] == lab.network.interface
    # The underlay's MTU less the 50 bytes of VXLAN, for the bridge and the task's link.
    assert link["mtu"] == 1450
    inside = json.loads(a.run("ip", "-j", "link", "show", "eth0").stdout)[0]
    assert inside["mtu"] == 1450


def test_peers_follow_the_cluster_state(lab: OverlayLab) -> None:
    a, b = lab.add_task(0), lab.add_task(1)
    lab.program()
    assert pings(a, b.ip)
    lab.tasks.remove(b)  # b leaves the cluster state: node 0 forgets it
    try:
        lab.program_node(lab.cluster.node(0))
        fdb = lab.cluster.node(0).run("bridge", "fdb", "show", "dev", "vx-001092").stdout
        assert "02:42:0a:63:00:0b dst" not in fdb  # (the bridge may still have learnt it)
        assert not pings(a, b.ip)
    finally:
        lab.tasks.append(b)  # its namespace is removed with the others'
    lab.program_node(lab.cluster.node(0))
    assert pings(a, b.ip)  # and back


def test_a_published_port_answers_on_a_node_without_tasks(lab: OverlayLab) -> None:
    web = lab.add_task(0)
    client = lab.add_task(1)
    lab.serve_http(web)
    wait_listening(web, 80)
    lab.services = [ServiceRules(id="s" * 25, vips=((VIP, (web.ip,)),),
                                 ports=(("tcp", 8080, 80),), port_backends=(web.ip,))]
    lab.program()
    node2 = lab.cluster.node(2)  # runs nothing of the service
    # From the host (outside every node), through node 2's routing mesh:
    got = wait_for("the mesh on node 2",
                   lambda: http_get(on_host, f"http://{node2.addr}:8080/name"))
    assert got == web.netns
    # From another node over the underlay, and to every node's address alike.
    for i in range(3):
        assert http_get(lab.cluster.node((i + 1) % 3).run,
                        f"http://{lab.cluster.node(i).addr}:8080/name") == web.netns
    # A task on node 1 through the service's VIP (the backend is on node 0).
    assert http_get(client.run, f"http://{VIP}/name") == web.netns
