"""Several managers (issue 14): on the cluster harness, three minke managers on one etcd
store (three etcd members on the underlay's host address) and a worker; a 6-replica HTTP
service published on port PORT, the host asking the worker's published port back to back
(routing mesh, a new connection each, 1 s timeout) all along. Each round takes the current
leader away, twice per round:

- *kill*: SIGKILL of the leader's minked and its containers;
- *cut*: the leader's link cut (it keeps running, cut off: fencing);

and measures the time until another manager shows itself the leader (``node ls`` on a
survivor: the new leader writes its ``ManagerStatus``), until every slot runs exactly one
task again (*converged*), the slots with no task or more than one then (*lost*,
*duplicated*: must be 0), and the requests through the mesh that failed meanwhile.

Docker: three private dockerds (``dockerswarm.py``), two promoted to managers; the leader's
link is cut (what the others see of a dead leader) and the time until a survivor names
another leader is measured (SwarmKit's Raft: ElectionTick 10 × TickInterval 1 s).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

import docker
from common import DOCKER_CLI, parse_repeat, report, summary
from dockerswarm import DockerSwarm
from mesh_failover import _get
from swarm_failover import wait
from tests.conftest import import_busybox
from tests.support.busybox import write_rootfs_tar
from tests.support.cluster import Cluster
from tests.support.etcd import start_cluster

MANAGERS, WORKERS = 3, 1
REPLICAS = 6
PORT = 18300
DOCKER_DOCUMENTED = {"election_s": "~10 at least: Raft ElectionTick 10 x TickInterval 1 s",
                     "source": "SwarmKit manager/state/raft defaults"}


def cli(host: str, *args: str, check: bool = True) -> str:
    return subprocess.run([DOCKER_CLI, "-H", host, *args], capture_output=True, text=True,
                          check=check, timeout=120).stdout.strip()


def leader_of(host: str) -> str | None:
    try:
        client = docker.APIClient(base_url=host, version="1.41", timeout=10)
        try:
            nodes = client.nodes()
        finally:
            client.close()
    except (docker.errors.APIError, OSError):
        return None
    leaders = [n["ID"] for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")]
    return leaders[0] if len(leaders) == 1 else None


class MinkeSide:
    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.down: set[int] = set()
        self.ids: list[str] = []

    def start(self, tmp: Path) -> None:
        nodes = self.c.start(MANAGERS + WORKERS, daemons=False)
        assert self.c.subnet is not None
        self.etcd = start_cluster(tmp / "etcd", 3, host=str(self.c.subnet[1]))
        url = "etcd://" + ",".join(m.endpoint for m in self.etcd) + "/bench"
        tar = write_rootfs_tar(tmp / "rootfs.tar")
        for node in nodes:
            node.extra_args += ["--cluster-store", url]
            self.c.restart(node.index)
            assert node.daemon is not None
            import_busybox(node.daemon, tar)
        first = self.c.node(0)
        cli(first.host, "swarm", "init", "--advertise-addr", first.addr)
        tokens = {r: cli(first.host, "swarm", "join-token", "-q", r)
                  for r in ("manager", "worker")}
        for i in range(1, MANAGERS + WORKERS):
            cli(self.c.node(i).host, "swarm", "join", "--token",
                tokens["manager" if i < MANAGERS else "worker"], f"{first.addr}:2377")
        self.ids = [cli(self.c.node(i).host, "info", "--format", "{{.Swarm.NodeID}}")
                    for i in range(MANAGERS + WORKERS)]
        cli(first.host, "service", "create", "-d", "--name", "web", "--replicas",
            str(REPLICAS), "--stop-grace-period", "1s", "-p", f"{PORT}:80", "busybox",
            "httpd", "-f", "-p", "80", "-h", "/etc")
        wait(lambda: self.slots() == (0, 0), 180)

    def close(self) -> None:
        try:
            self.c.close()
        finally:
            for member in getattr(self, "etcd", []):
                member.server.stop()

    def host(self) -> str:
        return self.c.node(next(i for i in range(MANAGERS) if i not in self.down)).host

    def slots(self) -> tuple[int, int] | None:
        """(slots with no running container, slots with more than one) over the live
        nodes, if the manager's tasks agree (one running task per slot); else None."""
        try:
            client = docker.APIClient(base_url=self.host(), version="1.41", timeout=10)
            try:
                tasks = client.tasks(filters={"service": "web", "desired-state": "running"})
            finally:
                client.close()
        except (docker.errors.APIError, OSError):
            return None
        running = Counter(t["Slot"] for t in tasks if t["Status"]["State"] == "running")
        if sorted(running.items()) != [(s, 1) for s in range(1, REPLICAS + 1)]:
            return None
        containers: Counter[str] = Counter()
        for i in range(MANAGERS + WORKERS):
            if i not in self.down:
                names = cli(self.c.node(i).host, "ps", "--format", "{{.Names}}", "--filter",
                            "label=com.docker.swarm.service.name=web").split()
                containers.update(n.split(".")[1] for n in names)
        want = [str(s) for s in range(1, REPLICAS + 1)]
        return (sum(1 for s in want if containers[s] == 0),
                sum(1 for s in want if containers[s] > 1))

    def fault(self, how: str) -> dict[str, object]:
        survivor_host = self.c.node(0).host
        old_id = wait_value(lambda: leader_of(survivor_host), 30)
        old = self.ids.index(old_id)
        survivor = next(i for i in range(MANAGERS) if i != old)
        url = f"http://{self.c.node(MANAGERS).addr}:{PORT}/hostname"
        samples: list[bool] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                samples.append(_get(url))
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(1.0)
        before = len(samples)
        start = time.perf_counter()
        if how == "kill":
            self.c.kill(old)
        else:
            self.c.cut_link(old)
        self.down.add(old)
        host = self.c.node(survivor).host
        elected = wait(lambda: leader_of(host) not in (None, old_id), 60)
        wait(lambda: self.slots() is not None, 120)
        converged = time.perf_counter() - start
        lost, duplicated = self.slots() or (-1, -1)
        time.sleep(1.0)
        stop.set()
        loader.join()
        during = samples[before:]
        if how == "kill":
            self.c.restart(old)
        else:
            self.c.heal(old)
        self.down.discard(old)
        wait(lambda: self.slots() == (0, 0), 120)
        return {"new_leader_s": round(elected, 2),
                "converged_s": round(converged, 2),
                "lost": lost, "duplicated": duplicated,
                "requests": len(during), "failed": during.count(False)}


def wait_value(fn: object, timeout: float) -> str:
    found: list[str] = []
    wait(lambda: found.append(v) or True if (v := fn()) else False,  # type: ignore[operator]
         timeout)
    return found[0]


def docker_election(rounds: int) -> dict[str, object]:
    """Seconds until a surviving Docker manager names a new leader after the leader's link
    is cut."""
    times = []
    with DockerSwarm(3) as swarm:
        ids = [swarm.node_id(i) for i in range(3)]
        for i in (1, 2):
            swarm.docker(0, "node", "promote", ids[i])
        for _ in range(rounds):
            wait(lambda: all(leader_of(swarm.host(i)) for i in range(3)), 60)
            old = ids.index(leader_of(swarm.host(0)) or "")
            survivor = (old + 1) % 3
            start = time.perf_counter()
            swarm.cut(old)
            wait(lambda s=survivor, o=old: leader_of(swarm.host(s)) not in (None, ids[o]), 120)
            times.append(time.perf_counter() - start)
            swarm.heal(old)
    return summary(times)


def main() -> None:
    rounds = parse_repeat(2)
    results: dict[str, object] = {"managers": MANAGERS, "workers": WORKERS,
                                  "replicas": REPLICAS, "leader_lease_s": 2.0}
    side = MinkeSide(Cluster())
    try:
        with TemporaryDirectory() as tmp:
            side.start(Path(tmp))
            runs: dict[str, list[dict[str, object]]] = {"kill": [], "cut": []}
            for _ in range(rounds):
                for how in ("kill", "cut"):
                    runs[how].append(side.fault(how))
    finally:
        side.close()
    for how, rows in runs.items():
        results[f"minke_{how}"] = {
            "new_leader_s": summary([float(r["new_leader_s"]) for r in rows]),  # type: ignore[arg-type]
            "converged_s": summary([float(r["converged_s"]) for r in rows]),  # type: ignore[arg-type]
            "lost": sum(int(r["lost"]) for r in rows),  # type: ignore[call-overload]
            "duplicated": sum(int(r["duplicated"]) for r in rows),  # type: ignore[call-overload]
            "mesh_requests": sum(int(r["requests"]) for r in rows),  # type: ignore[call-overload]
            "mesh_failed": sum(int(r["failed"]) for r in rows),  # type: ignore[call-overload]
            "rounds": rows}
    try:
        results["docker_cut"] = {"new_leader_s": docker_election(rounds)}
    except Exception as exc:  # noqa: BLE001 - no private Docker here: say so
        results["docker_cut"] = f"not run: {exc}"
    results["docker_documented"] = DOCKER_DOCUMENTED
    docker_s = results["docker_cut"]
    if isinstance(docker_s, dict):
        mk = results["minke_cut"]["new_leader_s"]["median_s"]  # type: ignore[index]
        results["ratio_new_leader_cut"] = round(
            mk / docker_s["new_leader_s"]["median_s"], 2)  # type: ignore[index]
    results["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    report("swarm_managers", results)


if __name__ == "__main__":
    main()
