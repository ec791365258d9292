"""The overlay network across nodes (issue 13), on the cluster harness (nodes are network
namespaces of this host, ``tests/support/cluster.py``):

- **throughput**: TCP from a task on node 0 to a task on node 1 over their overlay network
  (veth → bridge → VXLAN → underlay → VXLAN → bridge → veth), against the same transfer
  between two containers on the nodes' own namespaces (``--network host``) over the
  underlay veths alone: MIB MiB from /dev/zero through busybox ``nc`` into ``dd``, MB/s as
  the sender measures it. Goal: overlay ≥ 0.8 × underlay. Measured through the docker CLI
  only, on minke's nodes and, side by side, on Docker's swarm of private dockerds
  (``dockerswarm.py``, each in a namespace of its own on an underlay bridge).
- **setup of a new task** on the overlay, on bare nodes with minke's driver: joining the
  task's namespace to the network on its node (veth, addresses, hairpin), then the
  slowest other node programming it as a peer (they do it at the same time). Goal
  ≤ 100 ms. (Docker's has no equivalent to time from outside.)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import DOCKER_CLI, parse_repeat, report
from tests.support.busybox import write_rootfs_tar
from tests.support.cluster import Node, cluster
from tests.support.overlay import OverlayLab

from minke.engine.network.vxlan import Peer

MIB = 500
PORT = 5001
RAW_PORT = 5002
NET = "bench-overlay"
REF = "bench/busybox:latest"


def _dd_to(sender: list[str], address: str, port: int) -> float:
    """MB/s of one transfer run by ``sender`` (a command prefix: exec in a container, or
    nsenter into a node)."""
    script = (f"read s _ < /proc/uptime; dd if=/dev/zero bs=65536 count={MIB * 16} "
              f"2>/tmp/dd.err.$$ | busybox nc {address} {port}; read e _ < /proc/uptime; "
              "echo $(grep -c 'records out' /tmp/dd.err.$$) $s $e; rm -f /tmp/dd.err.$$")
    out = subprocess.run([*sender, "sh", "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    if out[-3] == "0":
        raise RuntimeError(f"the transfer to {address}:{port} was cut short")
    return MIB * 1.048576 / (float(out[-1]) - float(out[-2]))


def throughput(docker: Callable[..., str], hosts: list[str], addrs: list[str],
               repeat: int) -> dict[str, object]:
    """Overlay vs underlay transfers on a swarm of at least two nodes, through the docker
    CLI only (``docker(i, *args)`` runs it against node ``i``), so that minke's nodes and
    Docker's are measured alike."""
    with tempfile.TemporaryDirectory() as tmp:
        tar = write_rootfs_tar(Path(tmp) / "rootfs.tar")
        for i in (0, 1):
            docker(i, "import", "--change", 'CMD ["sh"]', str(tar), REF)
    ids = [docker(i, "info", "--format", "{{.Swarm.NodeID}}") for i in (0, 1)]
    docker(0, "network", "create", "-d", "overlay", NET)
    sink = ["nc", "-ll", "-p", str(PORT), "-e", "dd", "of=/dev/null", "bs=65536"]
    docker(0, "service", "create", "-d", "--name", "sink", "--network", NET,
           "--constraint", f"node.id=={ids[1]}", REF, *sink)
    docker(0, "service", "create", "-d", "--name", "source", "--network", NET,
           "--constraint", f"node.id=={ids[0]}", REF, "sleep", "3600")
    sink_cid = _task_container(docker, 1, "sink")
    source_cid = _task_container(docker, 0, "source")
    sink_ip = json.loads(docker(1, "inspect", sink_cid))[0]["NetworkSettings"][
        "Networks"][NET]["IPAddress"]
    time.sleep(1)  # the sink's nc listens once its container ran its first command
    overlay = [_dd_to([DOCKER_CLI, "-H", hosts[0], "exec", source_cid], sink_ip, PORT)
               for _ in range(repeat)]
    # The underlay between the same kind of processes: containers on the nodes' own
    # network namespaces (--network host), so that only the path differs.
    docker(1, "run", "-d", "--network", "host", "--name", "raw-sink", REF,
           *[a if a != str(PORT) else str(RAW_PORT) for a in sink])
    raw = docker(0, "run", "-d", "--network", "host", "--name", "raw-source", REF,
                 "sleep", "3600")
    time.sleep(1)
    underlay = [_dd_to([DOCKER_CLI, "-H", hosts[0], "exec", raw], addrs[1], RAW_PORT)
                for _ in range(repeat)]
    for i, name in ((1, "raw-sink"), (0, "raw-source")):
        docker(i, "rm", "-f", name)
    docker(0, "service", "rm", "sink", "source")
    return {"overlay_MBps": round(statistics.median(overlay), 1),
            "underlay_MBps": round(statistics.median(underlay), 1),
            "overlay_over_underlay": round(statistics.median(overlay)
                                           / statistics.median(underlay), 3)}


def _task_container(docker: Callable[..., str], i: int, service: str) -> str:
    """The running container of ``service``'s task on node ``i``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = docker(i, "ps", "-q", "--filter",
                       f"label=com.docker.swarm.service.name={service}").split()
        if found:
            return found[0]
        time.sleep(0.3)
    raise RuntimeError(f"{service} did not run on node {i}")


def minke_throughput(repeat: int) -> dict[str, object]:
    with cluster(2) as c:
        hosts, addrs = [n.host for n in c.nodes], [n.addr for n in c.nodes]

        def docker(i: int, *args: str) -> str:
            return subprocess.run([DOCKER_CLI, "-H", hosts[i], *args], capture_output=True,
                                  text=True, check=True).stdout.strip()
        docker(0, "swarm", "init", "--advertise-addr", addrs[0])
        token = docker(0, "swarm", "join-token", "-q", "worker")
        docker(1, "swarm", "join", "--token", token, f"{addrs[0]}:2377")
        try:
            return throughput(docker, hosts, addrs, repeat)
        finally:
            for i in (1, 0):
                subprocess.run([DOCKER_CLI, "-H", hosts[i], "swarm", "leave", "--force"],
                               capture_output=True, check=False)


def docker_throughput(repeat: int) -> dict[str, object] | str:
    """The same on Docker's swarm of private dockerds (``dockerswarm.py``), where one runs."""
    try:
        from dockerswarm import DockerSwarm
    except ImportError:
        return "not run: bench/dockerswarm.py is missing"
    try:
        with DockerSwarm(2) as swarm:
            return throughput(lambda i, *args: swarm.docker(i, *args),
                              [swarm.host(i) for i in range(2)], swarm.addrs, repeat)
    except (subprocess.CalledProcessError, RuntimeError, KeyError) as exc:
        return f"failed: {exc}"


def setup_time(repeat: int) -> dict[str, object]:
    with cluster(3, daemons=False) as c:
        lab = OverlayLab(c)
        try:
            lab.create()
            lab.add_task(1)
            lab.program()
            totals, joins, peers = [], [], []
            for n in range(repeat):
                start = time.perf_counter()
                lab.add_task(n % 3)
                joined = time.perf_counter() - start
                # Every node programs the new peer at the same time in a cluster: the
                # slowest node's time counts.
                slowest = max(_program_peers(lab, node) for node in c.nodes)
                totals.append(joined + slowest)
                joins.append(joined)
                peers.append(slowest)
        finally:
            lab.close()
    return {"setup_ms_median": round(statistics.median(totals) * 1000, 1),
            "setup_ms_max": round(max(totals) * 1000, 1),
            "join_ms_median": round(statistics.median(joins) * 1000, 1),
            "peers_ms_median": round(statistics.median(peers) * 1000, 1),
            "n": len(totals), "goal": "<= 100 ms"}


def _program_peers(lab: OverlayLab, node: Node) -> float:
    """Seconds node ``node`` takes to program the current peers (in its namespace)."""
    i = node.index
    peers = [Peer(t.ip, lab.cluster.node(t.node).addr) for t in lab.tasks if t.node != i]
    peers += [Peer(lab.lb(n.index), n.addr) for n in lab.cluster.nodes if n.index != i]

    def timed() -> float:
        start = time.perf_counter()
        lab.drivers[i].program(lab.network, lab.lb(i), peers)
        return time.perf_counter() - start
    return lab.in_node(i, timed)


def main() -> None:
    repeat = parse_repeat(3)
    results: dict[str, object] = {"minke": {"throughput": minke_throughput(repeat),
                                            "task_setup": setup_time(max(repeat, 10))}}
    results["docker"] = {"throughput": docker_throughput(repeat)}
    docker_tp = results["docker"]["throughput"]  # type: ignore[index]
    if isinstance(docker_tp, dict):
        minke_tp = results["minke"]["throughput"]  # type: ignore[index]
        results["overlay_MBps_minke_over_docker"] = round(
            minke_tp["overlay_MBps"] / docker_tp["overlay_MBps"], 3)
    results["goals"] = {"overlay_over_underlay": ">= 0.8", "task_setup_ms": "<= 100"}
    results["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    report("overlay_throughput", results)


if __name__ == "__main__":
    main()
