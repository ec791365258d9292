"""The log relay between managers, on a real SQLite store and real ``SubscribeLogs`` calls
over mutual TLS on loopback: a manager that does not lead reaches a worker's lines through
the leader's broker (and its going away cancels the subscription down to the worker's
session), asks another manager directly for that manager's own tasks, and only managers
may call; ``started`` gives the service's tasks as they start on other nodes."""

from __future__ import annotations

import asyncio
import datetime
import socket
from pathlib import Path
from typing import Any

import pytest

from minke import errors
from minke.swarm.ca import RootCA, issue_node_certificate
from minke.swarm.manager import logrelay
from minke.swarm.manager.logbroker import LOGS, LogBroker
from minke.swarm.manager.logrelay import SUBSCRIBE_LOGS, LogRelay, RemoteFeed
from minke.swarm.rpc import Call, Identity, ManagerConnection, NodeCredentials, RPCServer
from minke.swarm.store import SQLiteStore, Tx

CLUSTER = "cluster-a"
LEADER, OTHER, WORKER = "leader" + "0" * 19, "other0" + "0" * 19, "worker" + "0" * 19
LINE = {"TaskID": "t-worker", "Stream": "stdout", "TimeNs": 1, "Data": "aGkK"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def credentials(root: RootCA, node_id: str, *, manager: bool) -> NodeCredentials:
    cert, key = issue_node_certificate(root, node_id=node_id, manager=manager,
                                       cluster_id=CLUSTER, expiry=datetime.timedelta(days=1))
    return NodeCredentials(root.cert_pem, cert, key)


class NoContainers:
    """An engine with no task containers (this manager runs none of the tasks asked)."""

    def all(self) -> list[dict[str, Any]]:
        return []

    def is_running(self, container_id: str) -> bool:
        return False


class Manager:
    """A manager's relay served on loopback; ``leading`` as the test sets it."""

    def __init__(self, root: RootCA, node_id: str, store: SQLiteStore, *,
                 leading: bool) -> None:
        self.node_id = node_id
        self.creds = credentials(root, node_id, manager=True)
        self.broker = LogBroker()
        self.leading = leading
        self.relay = LogRelay(node_id=node_id, store=store, broker=self.broker,
                              leading=lambda: self.leading, containers=NoContainers(),
                              credentials=lambda: self.creds)
        self.server = RPCServer(self.relay.methods(), cluster_id=CLUSTER,
                                tls=self.creds.server_context())
        self.addr = f"127.0.0.1:{free_port()}"

    async def start(self) -> None:
        host, port = self.addr.split(":")
        await self.server.start(host, int(port))

    async def stop(self) -> None:
        await self.server.stop()


def node(node_id: str, role: str, addr: str = "", leader: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"ID": node_id, "Spec": {"Role": role, "Labels": {}},
                           "Status": {"State": "ready"}}
    if addr:
        doc["ManagerStatus"] = {"Addr": addr, "Leader": leader, "Reachability": "reachable"}
    return doc


async def setup(tmp_path: Path) -> tuple[SQLiteStore, RootCA, Manager, Manager]:
    store = SQLiteStore(tmp_path / "store.db")
    root = RootCA.create()
    leader = Manager(root, LEADER, store, leading=True)
    other = Manager(root, OTHER, store, leading=False)

    def seed(tx: Tx) -> None:
        tx.create("node", node(LEADER, "manager", leader.addr, leader=True))
        tx.create("node", node(OTHER, "manager", other.addr))
        tx.create("node", node(WORKER, "worker"))
    await store.update(seed)
    await leader.start()
    await other.start()
    return store, root, leader, other


async def next_message(queue: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(queue.get(), 10)


async def test_a_worker_through_the_leader_and_a_manager_directly(tmp_path: Path) -> None:
    store, root, leader, other = await setup(tmp_path)
    try:
        session: asyncio.Queue[Any] = asyncio.Queue()  # the worker's session on the leader
        leader.broker.attach(WORKER, session)
        feed = await other.relay.open(WORKER, ["t-worker"], {"Follow": True, "Tail": 2})
        assert isinstance(feed, RemoteFeed) and feed.addr == leader.addr
        asked = await next_message(session)  # down the worker's session, as the leader's
        assert asked["Type"] == LOGS and asked["TaskIDs"] == ["t-worker"]
        assert asked["Follow"] is True and asked["Tail"] == 2
        worker = Call(Identity(WORKER, "worker", CLUSTER), "198.18.0.9")
        await leader.broker.publish(worker, {"SubscriptionID": asked["SubscriptionID"],
                                             "Messages": [LINE], "Done": True})
        assert await next_message(feed.queue) == {"Messages": [LINE], "Done": True,
                                                  "Closed": False}
        await feed.close()  # the client went: the worker's agent is told to stop
        cancelled = await next_message(session)
        assert cancelled == {"Type": LOGS, "SubscriptionID": asked["SubscriptionID"],
                             "Cancel": True}

        # the leader asks the other manager itself for that manager's own tasks
        feed = await leader.relay.open(OTHER, ["t-other"], {"Follow": False})
        assert isinstance(feed, RemoteFeed) and feed.addr == other.addr
        assert (await next_message(feed.queue))["Done"]
        assert (await next_message(feed.queue))["Closed"]
        await feed.close()

        # the leader reaches the worker through its own broker; nobody reaches a worker
        # without a session, nor one when no manager leads
        assert await leader.relay.open(LEADER, ["t"], {}) is None
        leader.broker.detach(WORKER, session)
        assert await leader.relay.open(WORKER, ["t"], {}) is None
        leader.leading = False
        await store.update(lambda tx: tx.update("node", {
            **tx.get("node", LEADER), **node(LEADER, "manager", leader.addr)}))
        assert await other.relay.open(WORKER, ["t"], {}) is None
    finally:
        await leader.stop()
        await other.stop()
        await store.close()


async def test_subscribe_logs_refusals(tmp_path: Path) -> None:
    store, root, leader, other = await setup(tmp_path)

    async def subscribe(creds: NodeCredentials, addr: str, request: Any) -> list[Any]:
        conn = ManagerConnection(addr, creds.client_context())
        try:
            return [m async for m in conn.stream(SUBSCRIBE_LOGS, request)]
        finally:
            conn.close()
    try:
        worker = credentials(root, WORKER, manager=False)
        with pytest.raises(errors.Forbidden, match="only for managers"):
            await subscribe(worker, leader.addr, {"NodeID": LEADER, "TaskIDs": []})
        with pytest.raises(errors.InvalidParameter, match="NodeID"):
            await subscribe(other.creds, leader.addr, {"TaskIDs": []})
        with pytest.raises(errors.InvalidParameter, match="TaskIDs"):
            await subscribe(other.creds, leader.addr, {"NodeID": LEADER, "TaskIDs": "t"})
        # a manager that does not lead holds no worker's session
        with pytest.raises(errors.Unavailable, match="not the swarm's leader"):
            await subscribe(leader.creds, other.addr, {"NodeID": WORKER, "TaskIDs": ["t"]})
        with pytest.raises(errors.Unavailable, match="no session"):
            await subscribe(other.creds, leader.addr, {"NodeID": WORKER, "TaskIDs": ["t"]})
        # its own node: what it has, Done, then Closed (it runs none of these)
        got = await subscribe(leader.creds, other.addr, {"NodeID": OTHER, "TaskIDs": ["t"],
                                                         "Follow": True})
        assert got == [{"Messages": [], "Done": True, "Closed": False},
                       {"Messages": [], "Done": False, "Closed": True}]
    finally:
        await leader.stop()
        await other.stop()
        await store.close()


def moved(tx: Tx, task_id: str, state: str) -> None:
    doc = tx.get("task", task_id)
    assert doc is not None
    doc["Status"] = {"State": state}
    tx.update("task", doc)


def task(task_id: str, node_id: str, state: str, service: str = "s1") -> dict[str, Any]:
    return {"ID": task_id, "ServiceID": service, "NodeID": node_id,
            "Status": {"State": state}, "DesiredState": "running"}


async def test_started_tasks_on_other_nodes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    relay = LogRelay(node_id=LEADER, store=store, broker=LogBroker(), leading=lambda: True,
                     containers=None, credentials=lambda: None)  # type: ignore[arg-type,return-value]

    def seed(tx: Tx) -> None:
        tx.create("service", {"ID": "s1", "Spec": {"Name": "web"}})
        tx.create("task", task("t1", WORKER, "running"))  # already running elsewhere
        tx.create("task", task("t2", LEADER, "running"))  # this node's: read locally
        tx.create("task", task("t3", OTHER, "pending"))
        tx.create("task", task("t4", OTHER, "running", service="s2"))
    await store.update(seed)
    got: list[str] = []

    async def collect() -> None:
        async for started in relay.started("s1"):
            got.append(started["ID"])
    collector = asyncio.create_task(collect())
    try:
        await store.update(lambda tx: moved(tx, "t3", "running"))
        await store.update(lambda tx: tx.create("task", task("t5", WORKER, "assigned")))
        await store.update(lambda tx: moved(tx, "t5", "failed"))
        await store.update(lambda tx: tx.delete("service", "s1"))
        await asyncio.wait_for(collector, 10)  # ends with the service
    finally:
        collector.cancel()
        await store.close()
    assert got == ["t1", "t3", "t5"]
    assert logrelay.CLOSED["Closed"]
