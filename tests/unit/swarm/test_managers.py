"""Several managers, the parts that need no etcd: a manager token and ``node promote`` refused
on SQLite (nothing registered), a dispatcher that does not lead refusing sessions and
heartbeats, managers marked Down/ready from their store sessions, and an agent trying the
last leader it saw first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.unit.swarm.test_dispatcher import LEADER, OTHER, WORKER, caller, node, setup

from minke import errors
from minke.swarm.agent.mirror import MirrorStore
from minke.swarm.agent.session import AgentSession
from minke.swarm.manager import dispatcher as d
from minke.swarm.manager.caserver import NodeCA
from minke.swarm.manager.leader import Leader
from minke.swarm.rpc import Call, Identity


async def test_manager_token_and_promote_refused_on_sqlite(tmp_path: Path) -> None:
    store, control = await setup(tmp_path)
    try:
        cluster = await control.cluster()
        token = control.cluster_doc(cluster, join_tokens=True)["JoinTokens"]["Manager"]
        with pytest.raises(errors.NotSupported, match="several managers need an etcd store"):
            await NodeCA(control).issue(Call(Identity("", "", ""), "198.18.0.7"),
                                        {"Token": token, "CSR": "x", "Store": ""})
        assert len(await store.view(lambda tx: tx.list("node"))) == 3  # nothing registered
        worker = await control.node(WORKER)
        with pytest.raises(errors.NotSupported, match="several managers need an etcd store"):
            await control.update_node(WORKER, worker["Version"]["Index"],
                                      {**worker["Spec"], "Role": "manager"})
        assert (await control.node(WORKER))["Spec"]["Role"] == "worker"
    finally:
        await store.close()


async def test_only_the_leading_dispatcher_takes_sessions(tmp_path: Path) -> None:
    store, control = await setup(tmp_path)
    dispatcher = d.Dispatcher(control, LEADER)
    try:
        with pytest.raises(errors.Unavailable, match="not the swarm's leader"):
            await anext(aiter(dispatcher.session(caller(WORKER), {"Description": {}})))
        with pytest.raises(errors.Unavailable, match="not the swarm's leader"):
            await dispatcher.heartbeat(caller(WORKER), {"SessionID": "x"})
        await dispatcher.start()
        stream = aiter(dispatcher.session(caller(WORKER), {"Description": {}}))
        first = await anext(stream)
        assert first["Type"] == "snapshot"
        await dispatcher.stop()  # leadership lost: the session ends
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
    finally:
        await dispatcher.stop()
        await store.close()


async def test_managers_down_and_back_with_their_store_session(tmp_path: Path) -> None:
    store, _ = await setup(tmp_path)
    try:
        def managers(tx):  # two more managers, one with a task
            for node_id in (WORKER, OTHER):
                n = tx.get("node", node_id)
                n["Spec"]["Role"] = "manager"
                n["ManagerStatus"] = {"Leader": False, "Reachability": "reachable",
                                      "Addr": "198.18.0.9:2377"}
                tx.update("node", n)
            tx.create("task", {"ID": "t1", "ServiceID": "s", "Slot": 1, "NodeID": OTHER,
                               "DesiredState": "running", "Spec": {},
                               "Status": {"State": "running"}})
        await store.update(managers)
        leader = Leader(store, LEADER)
        await store.update(lambda tx: leader._mark_managers(tx, {LEADER, WORKER}))
        other, task = await store.view(lambda tx: (tx.get("node", OTHER), tx.get("task", "t1")))
        assert other["ManagerStatus"]["Reachability"] == "unreachable"
        assert other["Status"]["State"] == "down" and task["Status"]["State"] == "orphaned"
        await store.update(lambda tx: leader._mark_managers(tx, {LEADER, WORKER, OTHER}))
        other = await store.view(lambda tx: tx.get("node", OTHER))
        assert other["Status"]["State"] == "ready"
        assert other["ManagerStatus"]["Reachability"] == "reachable"
    finally:
        await store.close()


async def test_agent_tries_the_last_leader_first() -> None:
    mirror = MirrorStore()
    nodes = [node(i, "manager") for i in (LEADER, WORKER, OTHER)]
    for n, (leads, reach, addr) in zip(nodes, ((False, "unreachable", "10.0.0.1:2377"),
                                               (True, "reachable", "10.0.0.2:2377"),
                                               (False, "reachable", "10.0.0.3:2377")),
                                           strict=True):
        n["ManagerStatus"] = {"Leader": leads, "Reachability": reach, "Addr": addr}
    await mirror.load({"node": nodes})
    session = AgentSession(managers=["10.0.0.9:2377"], credentials=SimpleNamespace,
                           mirror=mirror, describe=SimpleNamespace, addr="",
                           on_removed=SimpleNamespace)  # type: ignore[arg-type]
    assert session.candidates() == ["10.0.0.9:2377"]
    await session._learn_managers()
    assert session.candidates() == ["10.0.0.2:2377", "10.0.0.3:2377", "10.0.0.1:2377",
                                    "10.0.0.9:2377"]
    await mirror.close()
