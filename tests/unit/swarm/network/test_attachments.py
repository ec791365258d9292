"""Network attachments of standalone containers on a real SQLite store: the manager's
``AttachNetwork``/``DetachNetwork`` give a node's container an address no task, VIP or
node holds (``--ip`` honoured when free), refuse networks that are not attachable, act for
the calling node only, and free the address at detach; the orchestrator and the allocator
leave attachment tasks alone, and other nodes' overlay peers include them."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke import errors
from minke.swarm.manager.orchestrator import Orchestrator
from minke.swarm.network import plan
from minke.swarm.network.allocator import allocate
from minke.swarm.network.attachments import AttachmentAPI, LocalAttacher
from minke.swarm.rpc import Call, Identity
from minke.swarm.store import Obj, SQLiteStore, Tx


def network(net_id: str, *, attachable: bool = True) -> Obj:
    return {"ID": net_id, "Spec": {"Name": f"name-{net_id}", "Attachable": attachable},
            "IPAM": {"Configs": [{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1"}]},
            "NodeAddresses": {"n1": "10.5.0.254", "n2": "10.5.0.253"}}


def call(node_id: str) -> Call:
    return Call(Identity(node_id, "worker", "c1"), "198.18.0.9")


async def seeded(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "store.db")

    def seed(tx: Tx) -> None:
        tx.create("network", network("net"))
        tx.create("network", network("closed", attachable=False))
        tx.create("node", {"ID": "n1", "Spec": {"Role": "worker"},
                           "Status": {"State": "ready", "Addr": "198.18.0.1"}})
        tx.create("node", {"ID": "n2", "Spec": {"Role": "worker"},
                           "Status": {"State": "ready", "Addr": "198.18.0.2"}})
        # a service task holding the lowest address
        tx.create("task", {"ID": "t1", "ServiceID": "s1", "NodeID": "n2", "Spec": {},
                           "DesiredState": "running", "Status": {"State": "running"},
                           "NetworksAttachments": [{"Network": {"ID": "net"},
                                                    "Addresses": ["10.5.0.2/24"]}]})
    await s.update(seed)
    return s


async def test_a_node_attaches_its_container_and_detach_frees_the_address(
        tmp_path: Path) -> None:
    store = await seeded(tmp_path)
    api = AttachmentAPI(lambda: store)
    reply = await api.attach_network(call("n1"), {
        "ContainerID": "c" * 64, "NetworkID": "net", "Aliases": ["web", "cccccccccccc"]})
    task = reply["Task"]
    assert task["NodeID"] == "n1"  # the caller's, whatever the request says
    assert task["Spec"]["NetworkAttachmentSpec"] == {"ContainerID": "c" * 64}
    assert task["ServiceID"] == "" and task["Status"]["State"] == "running"
    assert task["NetworksAttachments"][0]["Addresses"] == ["10.5.0.3/24"]
    assert task["NetworksAttachments"][0]["Aliases"] == ["web", "cccccccccccc"]
    # the same again (a retried call): the same task, not a second address
    again = await api.attach_network(call("n1"), {"ContainerID": "c" * 64,
                                                  "NetworkID": "net"})
    assert again["Task"]["ID"] == task["ID"]

    # Another node cannot detach it; its own node can, and the address is free again.
    assert (await api.detach_network(call("n2"), {"ContainerID": "c" * 64}))["Detached"] == 0
    assert await store.view(lambda tx: tx.get("task", task["ID"])) is not None
    assert (await api.detach_network(call("n1"), {"ContainerID": "c" * 64,
                                                  "NetworkID": "net"}))["Detached"] == 1
    assert await store.view(lambda tx: tx.get("task", task["ID"])) is None
    reused = await api.attach_network(call("n2"), {"ContainerID": "d" * 64,
                                                   "NetworkID": "net"})
    assert reused["Task"]["NetworksAttachments"][0]["Addresses"] == ["10.5.0.3/24"]
    await store.close()


async def test_a_requested_address_is_given_when_free_and_refused_when_held(
        tmp_path: Path) -> None:
    store = await seeded(tmp_path)
    attacher = LocalAttacher(store, "n1")
    task = await attacher.attach("c" * 64, "net", [], "10.5.0.77")
    assert task["NetworksAttachments"][0]["Addresses"] == ["10.5.0.77/24"]
    for held in ("10.5.0.2", "10.5.0.77", "10.5.0.254", "10.5.0.1"):  # task, other, node, gw
        with pytest.raises(errors.Conflict, match="Address already in use"):
            await attacher.attach("d" * 64, "net", [], held)
    with pytest.raises(errors.InvalidParameter, match="not in a subnet"):
        await attacher.attach("d" * 64, "net", [], "10.6.0.5")
    await store.close()


async def test_networks_that_are_not_attachable_are_refused_in_dockers_words(
        tmp_path: Path) -> None:
    store = await seeded(tmp_path)
    with pytest.raises(errors.Forbidden) as caught:
        await LocalAttacher(store, "n1").attach("c" * 64, "closed", [], "")
    assert str(caught.value) == ("rpc error: code = PermissionDenied desc = network "
                                 "name-closed not manually attachable")
    with pytest.raises(errors.NotFound):
        await AttachmentAPI(lambda: store).attach_network(
            call("n1"), {"ContainerID": "c" * 64, "NetworkID": "nope"})
    for bad in ({}, {"ContainerID": "c", "NetworkID": 5},
                {"ContainerID": "c", "NetworkID": "net", "Aliases": "x"}):
        with pytest.raises(errors.InvalidParameter):
            await AttachmentAPI(lambda: store).attach_network(call("n1"), bad)
    assert len(await store.view(lambda tx: tx.list("task"))) == 1  # nothing written
    await store.close()


async def test_orchestrator_and_allocator_leave_attachments_and_peers_include_them(
        tmp_path: Path) -> None:
    store = await seeded(tmp_path)
    task = await LocalAttacher(store, "n1").attach("c" * 64, "net", ["web"], "")
    await store.update(allocate)
    await store.update(Orchestrator(store)._pass)
    kept = await store.view(lambda tx: tx.get("task", task["ID"]))
    assert kept["DesiredState"] == "running"
    assert kept["NetworksAttachments"][0]["Addresses"] == ["10.5.0.3/24"]
    states = await store.view(lambda tx: plan("n2", tx.list("network"), tx.list("task"),
                                              tx.list("node")))
    assert {p.ip: p.underlay for p in states["net"].peers}["10.5.0.3"] == "198.18.0.1"
    await store.close()
