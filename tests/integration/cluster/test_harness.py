"""The cluster harness itself: nodes reach each other over the underlay, a node's minked
works inside its namespace (bridge, DNS at 127.0.0.11, published ports), kill/restart and
cut/heal do what they say, and closing a cluster leaves the host as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest
from tests.conftest import import_busybox, unique
from tests.support.cluster import Cluster, alive, cluster
from tests.support.hostnet import difference, snapshot
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


def reaches(cluster: Cluster, src: int, addr: str) -> bool:
    return cluster.node(src).run("busybox", "ping", "-c1", "-W1", addr,
                                 check=False).returncode == 0


def test_nodes_reach_each_other_over_the_underlay(cluster: Cluster) -> None:
    for i in range(len(cluster.nodes)):
        for j in range(len(cluster.nodes)):
            if i != j:
                assert reaches(cluster, i, cluster.node(j).addr), (i, j)


def test_a_node_serves_containers_with_dns_and_published_ports(cluster: Cluster) -> None:
    node = cluster.node(1)
    client = docker.DockerClient(base_url=node.host, version="1.41")
    net, name = unique("net"), unique("web")
    network = client.networks.create(net)
    web = client.containers.run("busybox", "httpd -f -p 80 -h /etc", name=name, network=net,
                                detach=True, ports={"80/tcp": None})
    try:
        out = client.containers.run(
            "busybox", f"wget -q -O- http://{name}/hostname", network=net, remove=True)
        assert out.decode().strip() == web.id[:12]
        web.reload()
        port = web.ports["80/tcp"][0]["HostPort"]
        # From another node, over the underlay, to the node's own address.
        got = wait_for("the published port", lambda: cluster.node(0).run(
            "curl", "-s", "-m", "2", f"http://{node.addr}:{port}/hostname",
            check=False).stdout.strip())
        assert got == web.id[:12]
    finally:
        web.remove(force=True)
        network.remove()
        client.close()


def test_kill_takes_the_daemon_and_its_containers_and_restart_brings_it_back(
        cluster: Cluster) -> None:
    node = cluster.node(2)
    client = docker.APIClient(base_url=node.host, version="1.41")
    c = client.create_container("busybox", "sleep 600", name=unique("k"))
    client.start(c["Id"])
    task_pid = client.inspect_container(c["Id"])["State"]["Pid"]
    daemon_pid = node.pid
    cluster.kill(2)
    assert node.pid is None
    assert not alive(task_pid)
    assert not alive(daemon_pid)
    cluster.restart(2)
    assert node.pid is not None and node.pid != daemon_pid
    assert client.inspect_container(c["Id"])["State"]["Running"] is False
    client.remove_container(c["Id"], force=True)
    client.close()


def test_cut_link_isolates_a_node_and_heal_reconnects_it(cluster: Cluster) -> None:
    cluster.cut_link(1)
    try:
        assert not reaches(cluster, 0, cluster.node(1).addr)
        assert not reaches(cluster, 1, cluster.node(2).addr)
    finally:
        cluster.heal(1)
    wait_for("node 1 back on the underlay", lambda: reaches(cluster, 0, cluster.node(1).addr))


def test_partition_splits_the_underlay_and_heal_joins_it(cluster: Cluster) -> None:
    cluster.partition([0], [1, 2])
    try:
        assert not reaches(cluster, 0, cluster.node(1).addr)
        assert not reaches(cluster, 2, cluster.node(0).addr)
        assert reaches(cluster, 1, cluster.node(2).addr)
    finally:
        for i in range(3):
            cluster.heal(i)
    assert reaches(cluster, 0, cluster.node(2).addr)


def test_loss_drops_what_a_node_sends(cluster: Cluster) -> None:
    cluster.netem(0, loss=100)
    try:
        assert not reaches(cluster, 0, cluster.node(1).addr)
    finally:
        cluster.heal(0)
    assert reaches(cluster, 0, cluster.node(1).addr)


def _leftovers(prefix: str) -> list[str]:
    """What of a cluster named ``prefix`` is on the host: namespaces, mounts, cgroups,
    links. (Other sessions' clusters come and go meanwhile: only this one's count.)"""
    found = [f"netns {n}" for n in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        if n.startswith(prefix)]
    found += [f"mount {line.split()[1]}" for line in
              Path("/proc/self/mounts").read_text().splitlines() if prefix in line.split()[1]]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/minke-test-{prefix}*")]
    found += [f"link {n}" for n in subprocess.run(
        ["ip", "-br", "link"], capture_output=True, text=True).stdout.split()
        if n.startswith(prefix)]
    found += [f"file {p}" for p in Path("/tmp").glob(f"{prefix}-*")]
    return found


def test_close_leaves_the_host_as_it_was(busybox_tar: Path) -> None:
    before = snapshot()
    with cluster(2) as c:
        for node in c.nodes:
            assert node.daemon is not None
            import_busybox(node.daemon, busybox_tar)
            client = docker.DockerClient(base_url=node.host, version="1.41")
            net = client.networks.create(unique("net"))
            client.containers.run("busybox", "sleep 600", network=net.name, detach=True,
                                  ports={"80/tcp": None})
            client.close()
        assert reaches(c, 0, c.node(1).addr)
        prefix = c.prefix
        made = _leftovers(prefix)
        assert {w.split()[0] for w in made} >= {"netns", "mount", "cgroup", "link", "file"}
    assert _leftovers(prefix) == []
    assert difference(before, snapshot()) == []
