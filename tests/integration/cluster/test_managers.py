"""Several managers on one etcd store, on the cluster harness: three managers (joined with
the manager token) and a worker, their store a real three-member etcd cluster on the
underlay's host address (so cutting a node's link cuts it from etcd too). Chaos: the
leader SIGKILLed during a rolling update, the leader partitioned away, an etcd member
lost (nothing visible), then two (no quorum: 503, reads answer); each time exactly one
task per slot in the end, and the update completes. Also: join with the manager token,
MANAGER STATUS and ``docker info`` on every manager, promote/demote (the leader too)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import import_busybox, unique
from tests.support.cluster import Cluster
from tests.support.cluster import docker_on as cli
from tests.support.cluster import docker_out as out
from tests.support.etcd import Etcd, start_cluster
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

MANAGERS, WORKERS = 3, 1
REPLICAS = 4




class Swarm:
    def __init__(self, cluster: Cluster, etcd: list[Etcd]) -> None:
        self.cluster, self.etcd = cluster, etcd
        self.ids = [out(cluster, i, "info", "--format", "{{.Swarm.NodeID}}")
                    for i in range(MANAGERS + WORKERS)]
        self.down: set[int] = set()

    def managers_up(self) -> list[int]:
        return [i for i in range(MANAGERS) if i not in self.down]

    def nodes(self, i: int) -> list[dict[str, object]]:
        client = docker.APIClient(base_url=self.cluster.node(i).host, version="1.41",
                                  timeout=20)
        try:
            return client.nodes()
        finally:
            client.close()

    def leader(self, i: int) -> int | None:
        """The leader's index as manager ``i`` sees it (None if its answer fails)."""
        try:
            nodes = self.nodes(i)
        except (docker.errors.APIError, OSError):
            return None
        leaders = [n["ID"] for n in nodes
                   if (n.get("ManagerStatus") or {}).get("Leader")]  # type: ignore[union-attr]
        return self.ids.index(leaders[0]) if len(leaders) == 1 else None

    def wait_leader(self, i: int, other_than: int | None = None) -> int:
        """The leader as manager ``i`` sees it, once there is one (other than ...)."""
        found = wait_for("a leader", lambda: (
            [x] if (x := self.leader(i)) is not None and x != other_than else None),
            deadline=30)
        return int(found[0])

    def tasks(self, service: str) -> list[dict[str, object]]:
        client = docker.APIClient(base_url=self.cluster.node(self.managers_up()[0]).host,
                                  version="1.41", timeout=20)
        try:
            return client.tasks(filters={"service": service, "desired-state": "running"})
        finally:
            client.close()

    def containers(self, service: str) -> Counter[str]:
        """Slot → running containers of ``service`` over every live node's engine."""
        slots: Counter[str] = Counter()
        for i in range(MANAGERS + WORKERS):
            if i in self.down:
                continue
            names = out(self.cluster, i, "ps", "--format", "{{.Names}}", "--filter",
                        f"label=com.docker.swarm.service.name={service}").split()
            slots.update(name.split(".")[1] for name in names)
        return slots

    def one_per_slot(self, service: str, env: str | None = None) -> bool:
        """Every slot has exactly one running task (with ``env``, if given) and exactly
        one running container over the live nodes."""
        running = [t for t in self.tasks(service) if t["Status"]["State"] == "running"]  # type: ignore[index]
        if env is not None and any(
                env not in (t["Spec"]["ContainerSpec"].get("Env") or [])  # type: ignore[index]
                for t in running):
            return False
        by_slot = Counter(str(t["Slot"]) for t in running)
        want = {str(s): 1 for s in range(1, REPLICAS + 1)}
        return dict(by_slot) == want and dict(self.containers(service)) == want


@pytest.fixture(scope="module")
def swarm(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    cluster = Cluster()
    etcd: list[Etcd] = []
    try:
        nodes = cluster.start(MANAGERS + WORKERS, daemons=False)
        assert cluster.subnet is not None
        etcd = start_cluster(tmp_path_factory.mktemp("etcd"), 3, host=str(cluster.subnet[1]))
        url = "etcd://" + ",".join(m.endpoint for m in etcd) + f"/{unique('swarm')}"
        for node in nodes:  # the worker too: it may be promoted
            node.extra_args += ["--cluster-store", url, "--swarm-leader-lease", "2s"]
            cluster.restart(node.index)
            assert node.daemon is not None
            import_busybox(node.daemon, busybox_tar)
        first = cluster.node(0)
        cli(cluster, 0, "swarm", "init", "--advertise-addr", first.addr,
            "--dispatcher-heartbeat", "2s")
        tokens = {r: out(cluster, 0, "swarm", "join-token", "-q", r)
                  for r in ("manager", "worker")}
        for i in range(1, MANAGERS + WORKERS):
            role = "manager" if i < MANAGERS else "worker"
            joined = cli(cluster, i, "swarm", "join", "--token", tokens[role],
                         f"{first.addr}:2377")
            assert joined.stdout.strip() == f"This node joined a swarm as a {role}."
        yield Swarm(cluster, etcd)
    finally:
        try:
            cluster.close()
        finally:
            for member in etcd:
                member.server.stop()


def manager_status(swarm: Swarm, i: int) -> dict[str, str]:
    return {str(n["ID"]): "Leader" if n["ManagerStatus"]["Leader"]  # type: ignore[index]
            else str(n["ManagerStatus"]["Reachability"]).capitalize()  # type: ignore[index]
            for n in swarm.nodes(i) if n.get("ManagerStatus")}


def test_every_manager_serves_and_one_leads(swarm: Swarm) -> None:
    for i in range(MANAGERS):  # every manager answers from the same store
        status = wait_for("three reachable managers, one leader", lambda i=i: (
            s if sorted((s := manager_status(swarm, i)).values())
            == ["Leader", "Reachable", "Reachable"] else None), deadline=30)
        assert set(status) == set(swarm.ids[:MANAGERS])
        assert out(swarm.cluster, i, "info", "--format", "{{.Swarm.Managers}} "
                   "{{.Swarm.Nodes}} {{.Swarm.ControlAvailable}}") == "3 4 true"
    ls = out(swarm.cluster, 1, "node", "ls", "--format", "{{.ManagerStatus}}").split()
    assert sorted(ls) == ["Leader", "Reachable", "Reachable"]
    r = cli(swarm.cluster, MANAGERS, "node", "ls", check=False)  # the worker serves nothing
    assert "This node is not a swarm manager" in r.stderr
    r = cli(swarm.cluster, 1, "swarm", "leave", check=False)
    assert "Removing this node leaves 2 managers out of 3" in r.stderr


def test_promote_and_demote_a_worker(swarm: Swarm) -> None:
    worker = MANAGERS
    cli(swarm.cluster, 1, "node", "promote", swarm.ids[worker])
    wait_for("the promoted node to serve as a manager", lambda: cli(
        swarm.cluster, worker, "node", "ls", check=False).returncode == 0, deadline=60)
    wait_for("four reachable managers", lambda: len(
        [s for s in manager_status(swarm, 0).values() if s != "Unreachable"]) == 4,
        deadline=30)
    cli(swarm.cluster, 2, "node", "demote", swarm.ids[worker])
    wait_for("the demoted node to stop serving", lambda: "This node is not a swarm manager"
             in cli(swarm.cluster, worker, "node", "ls", check=False).stderr, deadline=60)
    assert len(manager_status(swarm, 0)) == 3
    wait_for("the demoted node ready as a worker", lambda: out(
        swarm.cluster, 0, "node", "inspect", "-f", "{{.Status.State}}",
        swarm.ids[worker]) == "ready", deadline=60)


def test_demote_the_leader(swarm: Swarm) -> None:
    old = swarm.wait_leader(0)
    other = next(i for i in range(MANAGERS) if i != old)
    cli(swarm.cluster, other, "node", "demote", swarm.ids[old])
    try:
        assert swarm.wait_leader(other, other_than=old) != old
        wait_for("the demoted leader to stop serving", lambda: "This node is not a swarm "
                 "manager" in cli(swarm.cluster, old, "node", "ls", check=False).stderr,
                 deadline=60)
    finally:
        cli(swarm.cluster, other, "node", "promote", swarm.ids[old])
    wait_for("it to serve again", lambda: cli(
        swarm.cluster, old, "node", "ls", check=False).returncode == 0, deadline=60)
    wait_for("three reachable managers", lambda: sorted(manager_status(swarm, other).values())
             == ["Leader", "Reachable", "Reachable"], deadline=30)


@contextlib.contextmanager
def service(swarm: Swarm) -> Iterator[str]:
    name = unique("ha")
    m = swarm.managers_up()[0]
    cli(swarm.cluster, m, "service", "create", "-d", "--no-resolve-image",
        "--stop-grace-period", "1s", "--name", name, "--replicas", str(REPLICAS),
        "busybox", "sleep", "600")
    try:
        wait_for("one task per slot", lambda: swarm.one_per_slot(name), deadline=90)
        yield name
    finally:
        cli(swarm.cluster, swarm.managers_up()[0], "service", "rm", name, check=False)


def test_leader_killed_during_an_update(swarm: Swarm) -> None:
    with service(swarm) as name:
        old = swarm.wait_leader(1)
        survivor = next(i for i in range(MANAGERS) if i != old)
        cli(swarm.cluster, survivor, "service", "update", "-d", "--env-add", "V=2",
            "--update-parallelism", "1", "--update-delay", "1s", name)
        swarm.cluster.kill(old)  # SIGKILL: its lease expires, nobody resigns
        swarm.down.add(old)
        try:
            new = swarm.wait_leader(survivor, other_than=old)
            assert new in swarm.managers_up()
            wait_for("the update to complete with one task per slot",
                     lambda: swarm.one_per_slot(name, env="V=2"), deadline=120)
            wait_for("the update marked completed", lambda: out(
                swarm.cluster, survivor, "service", "inspect", "-f",
                "{{.UpdateStatus.State}}", name) == "completed", deadline=60)
            assert swarm.one_per_slot(name, env="V=2")
            assert manager_status(swarm, survivor)[swarm.ids[old]] == "Unreachable"
        finally:
            swarm.cluster.restart(old)  # back as a manager on the same store
            swarm.down.discard(old)
        wait_for("the old leader reachable again", lambda: manager_status(
            swarm, survivor).get(swarm.ids[old]) in ("Reachable", "Leader"), deadline=60)
        wait_for("one task per slot with the old leader back",
                 lambda: swarm.one_per_slot(name, env="V=2"), deadline=60)


def test_leader_partitioned_away(swarm: Swarm) -> None:
    with service(swarm) as name:
        old = swarm.wait_leader(swarm.managers_up()[0])
        survivor = next(i for i in range(MANAGERS) if i != old)
        swarm.cluster.cut_link(old)
        swarm.down.add(old)
        try:
            swarm.wait_leader(survivor, other_than=old)  # on the majority side
            wait_for("the cut-off leader to stand down (fenced)", lambda: "lost the "
                     "leadership" in swarm.cluster.node(old).log(20000), deadline=30)
            wait_for("its tasks replaced on the majority side",
                     lambda: swarm.one_per_slot(name), deadline=90)
        finally:
            swarm.cluster.heal(old)
            swarm.down.discard(old)
        wait_for("the old leader reachable again", lambda: manager_status(
            swarm, survivor).get(swarm.ids[old]) in ("Reachable", "Leader"), deadline=60)
        wait_for("one task per slot over every node after the heal",
                 lambda: swarm.one_per_slot(name), deadline=60)


def test_etcd_members_lost(swarm: Swarm) -> None:
    m = 0
    name = unique("nq")
    swarm.etcd[0].server.stop()  # one of three, the first endpoint: nothing visible
    try:
        cli(swarm.cluster, m, "service", "create", "-d", "--no-resolve-image", "--name",
            name, "busybox", "sleep", "600")
        cli(swarm.cluster, m, "service", "rm", name)
    finally:
        swarm.etcd[0].server.spawn()
        swarm.etcd[0].server.wait_ready()
    for member in swarm.etcd[1:]:  # two of three: no quorum
        member.server.stop()
    try:
        r = cli(swarm.cluster, m, "service", "create", "-d", "--no-resolve-image", "--name",
                name, "busybox", "sleep", "600", check=False)
        assert r.returncode != 0 and "quorum" in r.stderr, r.stderr
        assert "Reachable" in out(swarm.cluster, m, "node", "ls")  # reads still answer
    finally:
        for member in swarm.etcd[1:]:
            member.server.spawn()
        for member in swarm.etcd[1:]:
            member.server.wait_ready()
    wait_for("writes to succeed again", lambda: cli(
        swarm.cluster, m, "service", "create", "-d", "--no-resolve-image", "--name", name,
        "busybox", "sleep", "600", check=False).returncode == 0, deadline=60)
    cli(swarm.cluster, m, "service", "rm", name)
