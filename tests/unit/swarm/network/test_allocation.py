"""What the manager allocates for overlay networks across nodes, on a real SQLite store: a
VNI per network, an address per node and per task (none shared, none a VIP's), the
``encrypted`` option refused, and each node's view of its peers (``mesh.plan``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke import errors
from minke.swarm.network import allocate_vni, check_options, plan, vni_of
from minke.swarm.network.allocation import VNI_OPTION, assign_node_addresses
from minke.swarm.network.allocator import NetworkAllocator, allocate, needs_attachments
from minke.swarm.store import CREATE, DELETE, UPDATE, Event, Obj, SQLiteStore, Tx


def network(net_id: str, subnet: str = "10.5.0.0/24", vni: int | None = None) -> Obj:
    obj: Obj = {"ID": net_id, "Spec": {"Name": net_id},
                "IPAM": {"Configs": [{"Subnet": subnet,
                                      "Gateway": subnet.rsplit(".", 1)[0] + ".1"}]}}
    if vni is not None:
        obj["DriverState"] = {"Name": "overlay", "Options": {VNI_OPTION: str(vni)}}
    return obj


def node(node_id: str, addr: str, state: str = "ready") -> Obj:
    return {"ID": node_id, "Status": {"State": state, "Addr": addr}}


def service(service_id: str, net_id: str, vip: str = "") -> Obj:
    out: Obj = {"ID": service_id, "Spec": {"Name": service_id, "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox"}, "Networks": [{"Target": net_id}]}}}
    if vip:
        out["Endpoint"] = {"VirtualIPs": [{"NetworkID": net_id, "Addr": vip}]}
    return out


def task(task_id: str, service_id: str, node_id: str, state: str = "running") -> Obj:
    return {"ID": task_id, "ServiceID": service_id, "NodeID": node_id, "Spec": {},
            "DesiredState": "running", "Status": {"State": state}, "NetworksAttachments": []}


def test_vnis_are_unique_from_4097_and_a_requested_one_is_checked() -> None:
    assert allocate_vni([]) == 4097
    taken = [network("a", vni=4097), network("b", vni=4099)]
    assert allocate_vni(taken) == 4098
    assert allocate_vni(taken, "5000") == 5000
    assert vni_of(taken[1]) == 4099
    with pytest.raises(errors.Conflict):
        allocate_vni(taken, "4099")
    with pytest.raises(errors.InvalidParameter, match=VNI_OPTION):
        allocate_vni(taken, "many")
    with pytest.raises(errors.InvalidParameter):
        allocate_vni(taken, str(1 << 24))


def test_encrypted_is_refused_as_not_supported() -> None:
    check_options({"com.docker.network.driver.mtu": "1400"})
    check_options({"encrypted": "false"})
    with pytest.raises(errors.NotSupported, match="encrypted"):
        check_options({"encrypted": ""})


def test_node_addresses_from_the_top_kept_and_released() -> None:
    net = network("n")
    assert assign_node_addresses(net, ["b", "a"], used={"10.5.0.254"})
    assert net["NodeAddresses"] == {"a": "10.5.0.253", "b": "10.5.0.252"}
    assert not assign_node_addresses(net, ["a", "b"], used=set())  # kept as they are
    assert assign_node_addresses(net, ["b", "c"], used=set())
    assert net["NodeAddresses"] == {"b": "10.5.0.252", "c": "10.5.0.254"}


async def test_the_allocator_gives_tasks_and_nodes_unique_addresses(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")

    def seed(tx: Tx) -> None:
        tx.create("network", network("net", vni=4097))
        tx.create("node", node("n1", "198.18.0.2"))
        tx.create("node", node("n2", "198.18.0.3"))
        tx.create("service", service("web", "net", vip="10.5.0.254/24"))
        tx.create("service", service("plain", ""))
        for i, on in enumerate(("n1", "n2", "n2")):
            tx.create("task", task(f"t{i}", "web", on))
        tx.create("task", task("gone", "web", "n1", state="shutdown"))
    await store.update(seed)
    await store.update(allocate)
    tasks, net, services = await store.view(lambda tx: (
        {x["ID"]: x for x in tx.list("task")}, tx.get("network", "net"),
        {s["ID"]: s for s in tx.list("service")}))
    addresses = [tasks[f"t{i}"]["NetworksAttachments"][0]["Addresses"][0] for i in range(3)]
    assert addresses == ["10.5.0.2/24", "10.5.0.3/24", "10.5.0.4/24"]
    assert tasks["t0"]["NetworksAttachments"][0]["Network"]["ID"] == "net"
    assert tasks["gone"]["NetworksAttachments"] == []  # an ended task gets nothing
    assert net["NodeAddresses"] == {"n1": "10.5.0.253", "n2": "10.5.0.252"}  # .254: VIP
    assert not needs_attachments(tasks["t0"], services["web"])
    assert needs_attachments(task("new", "web", "n1"), services["web"])
    before = await store.view(lambda tx: tx.index)
    await store.update(allocate)  # nothing left to do: nothing written
    assert await store.view(lambda tx: tx.index) == before

    # Each node's view: the other node's tasks and address as peers, its own address.
    states = await store.view(lambda tx: plan("n1", tx.list("network"), tx.list("task"),
                                              tx.list("node")))
    state = states["net"]
    assert (state.vni, state.address) == (4097, "10.5.0.253")
    assert [(p.ip, p.underlay) for p in state.peers] == [
        ("10.5.0.252", "198.18.0.3"), ("10.5.0.3", "198.18.0.3"), ("10.5.0.4", "198.18.0.3")]
    await store.close()


def test_plan_leaves_out_down_nodes_and_ended_tasks() -> None:
    net = network("net", vni=4097)
    net["NodeAddresses"] = {"n1": "10.5.0.254", "n2": "10.5.0.253", "n3": "10.5.0.252"}
    running = task("a", "web", "n2")
    running["NetworksAttachments"] = [{"Network": {"ID": "net"}, "Addresses": ["10.5.0.2/24"]}]
    ended = {**running, "ID": "b", "Status": {"State": "failed"}}
    elsewhere = {**running, "ID": "c", "NodeID": "n3"}
    state = plan("n1", [net], [running, ended, elsewhere],
                 [node("n1", "198.18.0.2"), node("n2", "198.18.0.3"),
                  node("n3", "198.18.0.4", state="down")])["net"]
    assert [(p.ip, p.underlay, p.lladdr) for p in state.peers] == [
        ("10.5.0.2", "198.18.0.3", "02:42:0a:05:00:02"),
        ("10.5.0.253", "198.18.0.3", "02:42:0a:05:00:fd")]


def test_allocator_passes_only_for_tasks_that_need_or_free_addresses(
        tmp_path: Path) -> None:
    """A pass reads every task: the allocator's watch wakes it for a new task and for one
    whose addresses come, go or are freed, not for the progress of a task on no network
    (a batch job's reports)."""
    allocator = NetworkAllocator(SQLiteStore(tmp_path / "store.db"))
    plain = task("t1", "s1", "n1", state="assigned")
    running = {**plain, "Status": {"State": "running"}}
    done = {**plain, "Status": {"State": "complete"}}
    attached = {**running, "NetworksAttachments": [
        {"Network": {"ID": "net1"}, "Addresses": ["10.5.0.2/24"]}]}
    ended = {**attached, "Status": {"State": "complete"}}
    assert allocator.relevant(Event(1, "task", CREATE, "t1", plain, None))
    assert not allocator.relevant(Event(2, "task", UPDATE, "t1", running, plain))
    assert not allocator.relevant(Event(3, "task", UPDATE, "t1", done, running))
    assert not allocator.relevant(Event(4, "task", DELETE, "t1", done, done))
    assert allocator.relevant(Event(5, "task", UPDATE, "t1", attached, running))
    assert not allocator.relevant(Event(6, "task", UPDATE, "t1", attached, attached))
    assert allocator.relevant(Event(7, "task", UPDATE, "t1", ended, attached))
    assert allocator.relevant(Event(8, "task", DELETE, "t1", ended, ended))
    assert allocator.relevant(Event(9, "service", UPDATE, "s1", {}, {}))
