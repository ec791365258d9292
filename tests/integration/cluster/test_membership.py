"""Many nodes in one swarm, driven by the docker CLI on three minked nodes of the cluster
harness: join with tokens over mutual TLS, ``node ls``, tasks spread over every node's
engine, refusals (wrong, rotated and malformed tokens, an unreachable manager, joining
twice), drain, and a node that dies and comes back (Down, tasks replaced, stale tasks
shut down)."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
import subprocess
from collections import Counter
from collections.abc import Iterator

import docker
import pytest
from tests.conftest import unique
from tests.support.cluster import Cluster
from tests.support.cluster import docker_on as cli
from tests.support.cluster import docker_out as out
from tests.support.polling import wait_for

from minke import errors
from minke.swarm.ca import RootCA, issue_node_certificate
from minke.swarm.localstate import LocalStore
from minke.swarm.manager.dispatcher import HEARTBEAT
from minke.swarm.manager.remote import GET_DATA_KEY
from minke.swarm.rpc import ManagerConnection, NodeCredentials
from minke.swarm.rpc.tls import pinned_context

pytestmark = pytest.mark.integration




@pytest.fixture(scope="module")
def swarm(cluster: Cluster) -> Iterator[Cluster]:
    """Node 0 the manager, nodes 1 and 2 workers; every node leaves afterwards. Heartbeats
    every 2 s (the default is 1 s): a test host loaded by parallel runs may starve a daemon
    for longer than 3 s, which would take a live node for Down and move its tasks."""
    manager = cluster.node(0)
    cli(cluster, 0, "swarm", "init", "--advertise-addr", manager.addr,
        "--dispatcher-heartbeat", "2s")
    token = out(cluster, 0, "swarm", "join-token", "-q", "worker")
    for i in (1, 2):
        joined = cli(cluster, i, "swarm", "join", "--token", token, f"{manager.addr}:2377")
        assert joined.stdout.strip() == "This node joined a swarm as a worker."
    try:
        yield cluster
    finally:
        for i in (2, 1, 0):
            cli(cluster, i, "swarm", "leave", "--force", check=False)


def node_rows(cluster: Cluster) -> dict[str, tuple[str, str, str]]:
    """Node ID → (status, availability, manager status) from ``docker node ls`` (the
    harness's nodes share the host's hostname)."""
    lines = out(cluster, 0, "node", "ls", "--format",
                "{{.ID}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}").splitlines()
    return {i.removesuffix(" *"): (s, a, m) for i, s, a, m in (line.split("|")
                                                                for line in lines)}


def node_id(cluster: Cluster, i: int) -> str:
    return out(cluster, i, "info", "--format", "{{.Swarm.NodeID}}")


def create_service(cluster: Cluster, name: str, replicas: int) -> None:
    cli(cluster, 0, "service", "create", "-d", "--no-resolve-image", "--stop-grace-period",
        "1s", "--name", name, "--replicas", str(replicas), "busybox", "sleep", "600")


def running_tasks(cluster: Cluster, service: str) -> Counter[str]:
    """Node ID → tasks of ``service`` running there, by the manager (the harness's nodes
    share one hostname, so ``service ps`` cannot tell them apart)."""
    client = docker.APIClient(base_url=cluster.node(0).host, version="1.41")
    try:
        tasks = client.tasks(filters={"service": service, "desired-state": "running"})
    finally:
        client.close()
    return Counter(x["NodeID"] for x in tasks if x["Status"]["State"] == "running")


def containers_of(cluster: Cluster, i: int, service: str) -> int:
    """Running containers of ``service`` on node ``i``'s own engine."""
    return len(out(cluster, i, "ps", "-q", "--filter",
                   f"label=com.docker.swarm.service.name={service}").split())


def test_join_lists_three_ready_nodes(swarm: Cluster) -> None:
    rows = wait_for("three ready nodes", lambda: (
        r if len(r := node_rows(swarm)) == 3 and
        all(s == "Ready" for s, _, _ in r.values()) else None))
    assert rows[node_id(swarm, 0)] == ("Ready", "Active", "Leader")
    for i in (1, 2):
        assert rows[node_id(swarm, i)] == ("Ready", "Active", "")
        info = json.loads(out(swarm, i, "info", "--format", "{{json .Swarm}}"))
        assert info["LocalNodeState"] == "active" and not info["ControlAvailable"]
        assert info["RemoteManagers"][0]["Addr"] == f"{swarm.node(0).addr}:2377"
    # A worker is not a manager: dockerd's words.
    refused = cli(swarm, 1, "node", "ls", check=False)
    assert refused.returncode != 0 and "This node is not a swarm manager" in refused.stderr
    node = json.loads(out(swarm, 0, "node", "inspect", node_id(swarm, 1)))[0]
    assert node["Status"]["Addr"] == swarm.node(1).addr
    assert node["Description"]["Resources"]["NanoCPUs"] > 0
    assert node["Description"]["Platform"]["OS"] == "linux"


def test_replicas_spread_over_every_engine(swarm: Cluster) -> None:
    name = unique("spread")
    create_service(swarm, name, 6)
    try:
        placed = wait_for("6 running tasks", lambda: (
            c if sum((c := running_tasks(swarm, name)).values()) == 6 else None), deadline=60)
        assert sorted(placed.values()) == [2, 2, 2]
        for i in range(3):
            assert containers_of(swarm, i, name) == 2
    finally:
        cli(swarm, 0, "service", "rm", name)
    for i in range(3):
        wait_for(f"node {i} without tasks", lambda i=i: containers_of(swarm, i, name) == 0,
                 deadline=30)


def test_join_refusals(swarm: Cluster) -> None:
    manager = f"{swarm.node(0).addr}:2377"
    token = out(swarm, 0, "swarm", "join-token", "-q", "worker")
    # Joining twice: the node already is in a swarm.
    twice = cli(swarm, 1, "swarm", "join", "--token", token, manager, check=False)
    assert twice.returncode != 0 and "already part of a swarm" in twice.stderr
    # The extra node of this test, not in the swarm.
    extra = swarm.start(1)[0]
    i = swarm.nodes.index(extra)
    try:
        bad_secret = token[:-25] + "0" * 25
        r = cli(swarm, i, "swarm", "join", "--token", bad_secret, manager, check=False)
        assert "A valid join token is necessary to join this cluster" in r.stderr
        other_root = token.split("-")
        other_root[2] = "1" * 50
        r = cli(swarm, i, "swarm", "join", "--token", "-".join(other_root), manager,
                check=False)
        assert "remote CA does not match fingerprint" in r.stderr
        taken = swarm.node(1).addr
        r = cli(swarm, i, "swarm", "join", "--token", token, "--advertise-addr", taken, manager,
                check=False)
        assert f"address {taken} is already used by node {node_id(swarm, 1)}" in r.stderr
        manager_token = out(swarm, 0, "swarm", "join-token", "-q", "manager")
        r = cli(swarm, i, "swarm", "join", "--token", manager_token, manager, check=False)
        assert "several managers need an etcd store" in r.stderr
        r = cli(swarm, i, "swarm", "join", "--token", "SWMTKN-1-nope", manager, check=False)
        assert "invalid join token" in r.stderr
        r = cli(swarm, i, "swarm", "join", "--token", token, f"{swarm.node(0).addr}:2399",
                check=False)
        assert r.returncode != 0 and f"{swarm.node(0).addr}:2399 did not answer" in r.stderr
        # A rotated token no longer joins; the new one does.
        cli(swarm, 0, "swarm", "join-token", "--rotate", "worker")
        r = cli(swarm, i, "swarm", "join", "--token", token, manager, check=False)
        assert "A valid join token is necessary to join this cluster" in r.stderr
        assert out(swarm, i, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
        new = out(swarm, 0, "swarm", "join-token", "-q", "worker")
        cli(swarm, i, "swarm", "join", "--token", new, manager)
        extra_id = node_id(swarm, i)
        wait_for("the fourth node ready",
                 lambda: node_rows(swarm).get(extra_id, ("",))[0] == "Ready")
        # A worker leaves; the manager sees it Down, and removes it.
        cli(swarm, i, "swarm", "leave")
        wait_for("the node down", lambda: node_rows(swarm)[extra_id][0] == "Down")
        cli(swarm, 0, "node", "rm", extra_id)
        assert extra_id not in node_rows(swarm)
    finally:
        cli(swarm, i, "swarm", "leave", "--force", check=False)


def node_credentials(cluster: Cluster, i: int) -> NodeCredentials:
    """Node ``i``'s certificate and key, read from its swarm directory."""
    local = LocalStore(cluster.node(i).data_root / "swarm")
    state = local.load()
    assert state is not None
    return NodeCredentials(*local.load_certificates(state.plain_key()))


async def call_manager(cluster: Cluster, ctx: ssl.SSLContext, method: str) -> object:
    conn = ManagerConnection(f"{cluster.node(0).addr}:2377", ctx)
    try:
        return await conn.call(method, {}, timeout=5)
    finally:
        conn.close()


def test_mutual_tls_refusals(swarm: Cluster) -> None:
    worker, manager = node_credentials(swarm, 1), node_credentials(swarm, 0)
    assert worker.identity.role == "worker" and manager.identity.role == "manager"
    assert worker.identity.cluster_id == manager.identity.cluster_id
    # A worker calling a manager-only method: refused, and the manager logs who it was.
    with pytest.raises(errors.Forbidden, match="only for managers"):
        asyncio.run(call_manager(swarm, worker.client_context(), GET_DATA_KEY))
    assert f"refused {GET_DATA_KEY} from " in swarm.node(0).log()
    assert f"(node {worker.identity.node_id}, worker)" in swarm.node(0).log()
    reply = asyncio.run(call_manager(swarm, manager.client_context(), GET_DATA_KEY))
    assert isinstance(reply, dict) and reply["DataKey"]
    # A certificate of another cluster (another root): the handshake fails.
    other = RootCA.create()
    cert, key = issue_node_certificate(other, node_id="intruder", manager=True,
                                       cluster_id="another", expiry=datetime.timedelta(1))
    ctx = pinned_context(manager.root_pem)
    NodeCredentials(manager.root_pem, cert, key).load_chain(ctx)
    with pytest.raises(errors.Unavailable):
        asyncio.run(call_manager(swarm, ctx, GET_DATA_KEY))
    wait_for("the manager to log the refused handshake", lambda: "TLS handshake failed"
             in swarm.node(0).log())
    # Anonymous: only the CA's join methods.
    with pytest.raises(errors.Forbidden, match="a node certificate is required"):
        asyncio.run(call_manager(swarm, pinned_context(manager.root_pem), HEARTBEAT))


def test_demote_the_last_manager_and_promote_on_sqlite_are_refused(swarm: Cluster) -> None:
    r = cli(swarm, 0, "node", "demote", node_id(swarm, 0), check=False)
    assert "attempting to demote the last manager of the swarm" in r.stderr
    worker = node_id(swarm, 2)
    r = cli(swarm, 0, "node", "promote", worker, check=False)
    assert "several managers need an etcd store" in r.stderr  # SQLite: one manager
    assert out(swarm, 0, "node", "inspect", "-f", "{{.Spec.Role}}", worker) == "worker"


def test_drain_moves_tasks_away(swarm: Cluster) -> None:
    name = unique("drain")
    worker = node_id(swarm, 2)
    create_service(swarm, name, 3)
    try:
        wait_for("3 running", lambda: sum(running_tasks(swarm, name).values()) == 3,
                 deadline=60)
        cli(swarm, 0, "node", "update", "--availability", "drain", worker)
        placed = wait_for("tasks off the drained node", lambda: (
            c if sum((c := running_tasks(swarm, name)).values()) == 3
            and worker not in c else None), deadline=60)
        assert sorted(placed.values()) == [1, 2]
        wait_for("no container on the drained node",
                 lambda: containers_of(swarm, 2, name) == 0, deadline=30)
    finally:
        cli(swarm, 0, "node", "update", "--availability", "active", worker)
        cli(swarm, 0, "service", "rm", name)


def test_a_killed_node_is_down_its_tasks_move_and_its_stale_tasks_stop_on_return(
        swarm: Cluster) -> None:
    name = unique("failover")
    create_service(swarm, name, 6)
    victim = node_id(swarm, 2)
    try:
        wait_for("6 running", lambda: sum(running_tasks(swarm, name).values()) == 6,
                 deadline=60)
        swarm.kill(2)
        wait_for("node 2 down", lambda: node_rows(swarm)[victim][0] == "Down", deadline=30)
        placed = wait_for("6 running on the others", lambda: (
            c if sum((c := running_tasks(swarm, name)).values()) == 6
            and victim not in c else None), deadline=60)
        assert sorted(placed.values()) == [3, 3]
        swarm.restart(2)
        wait_for("node 2 ready again",
                 lambda: node_rows(swarm)[victim][0] == "Ready",
                 deadline=30)
        # Its old tasks were replaced: none runs there again, the 6 stay where they are.
        wait_for("no stale task on node 2", lambda: containers_of(swarm, 2, name) == 0,
                 deadline=30)
        assert sum(running_tasks(swarm, name).values()) == 6
    finally:
        cli(swarm, 0, "service", "rm", name)


def test_docker_py_sees_the_nodes(swarm: Cluster) -> None:
    client = docker.DockerClient(base_url=swarm.node(0).host, version="1.41")
    try:
        roles = sorted(n.attrs["Spec"]["Role"] for n in client.nodes.list())
        assert roles[:1] == ["manager"] and roles.count("worker") >= 2
    finally:
        client.close()


def test_workers_keep_their_tasks_while_the_manager_is_away(swarm: Cluster) -> None:
    name = unique("away")
    create_service(swarm, name, 3)
    try:
        wait_for("3 running", lambda: sum(running_tasks(swarm, name).values()) == 3,
                 deadline=60)
        tasks_before = set(running_tasks_ids(swarm, name))
        on_workers = {i: out(swarm, i, "ps", "-q", "--filter",
                             f"label=com.docker.swarm.service.name={name}") for i in (1, 2)}
        logs = {i: swarm.node(i).root / "minked.log" for i in (1, 2)}
        seen = {i: logs[i].stat().st_size for i in (1, 2)}
        swarm.stop(0)
        for i in (1, 2):
            wait_for(f"node {i} to miss its manager", lambda i=i: "swarm agent: session with"
                     in logs[i].read_bytes()[seen[i]:].decode(errors="replace"))
        for i in (1, 2):
            assert out(swarm, i, "ps", "-q", "--filter",
                       f"label=com.docker.swarm.service.name={name}") == on_workers[i]
        swarm.restart(0)
        workers = {node_id(swarm, 1), node_id(swarm, 2)}
        wait_for("the workers back in session", lambda: all(
            node_rows(swarm).get(w, ("",))[0] == "Ready" for w in workers), deadline=30)
        # Nothing was replaced: the same tasks run on.
        assert set(running_tasks_ids(swarm, name)) == tasks_before
    finally:
        cli(swarm, 0, "service", "rm", name)


def running_tasks_ids(cluster: Cluster, service: str) -> list[str]:
    client = docker.APIClient(base_url=cluster.node(0).host, version="1.41")
    try:
        return [x["ID"] for x in client.tasks(filters={"service": service,
                                                       "desired-state": "running"})
                if x["Status"]["State"] == "running"]
    finally:
        client.close()


def test_tasks_on_workers_get_their_secrets(swarm: Cluster) -> None:
    name, secret = unique("sec"), unique("pw")
    subprocess.run(["docker", "-H", swarm.node(0).host, "secret", "create", secret, "-"],
                   input="hunter2", text=True, check=True, capture_output=True)
    cli(swarm, 0, "service", "create", "-d", "--no-resolve-image", "--stop-grace-period",
        "1s", "--name", name, "--replicas", "3", "--replicas-max-per-node", "1",
        "--secret", secret, "busybox", "sleep", "600")
    try:
        wait_for("one task per node", lambda: len(running_tasks(swarm, name)) == 3,
                 deadline=60)
        for i in range(3):
            [container] = out(swarm, i, "ps", "-q", "--filter",
                              f"label=com.docker.swarm.service.name={name}").split()
            assert out(swarm, i, "exec", container, "cat", f"/run/secrets/{secret}") == \
                "hunter2"
    finally:
        cli(swarm, 0, "service", "rm", name)
        cli(swarm, 0, "secret", "rm", secret)


def test_a_removed_node_that_comes_back_is_told_so_and_can_join_again(
        swarm: Cluster) -> None:
    victim = node_id(swarm, 2)
    swarm.kill(2)
    try:
        wait_for("node 2 down", lambda: node_rows(swarm)[victim][0] == "Down", deadline=30)
        cli(swarm, 0, "node", "rm", victim)
    finally:
        swarm.restart(2)
    info = wait_for("node 2 refused by its manager", lambda: (
        i if (i := json.loads(out(swarm, 2, "info", "--format", "{{json .Swarm}}")))[
            "LocalNodeState"] == "error" else None), deadline=30)
    assert "removed from the swarm" in info["Error"]
    assert "removed" in swarm.node(2).log()
    cli(swarm, 2, "swarm", "leave", "--force")
    token = out(swarm, 0, "swarm", "join-token", "-q", "worker")
    cli(swarm, 2, "swarm", "join", "--token", token, f"{swarm.node(0).addr}:2377")
    new = node_id(swarm, 2)
    assert new != victim
    wait_for("node 2 back as a new node", lambda: node_rows(swarm).get(new, ("",))[0] ==
             "Ready", deadline=30)
