"""A node's swarm lifecycle on the real SQLite store and event bus: init, inspect, update,
nodes, leave, restart, autolock and unlock, with Docker's answers. The agent is a fixed
description of a node (the Engine's is tested with the real daemon in tests/compat)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from minke import errors
from minke.engine.events import EventBus
from minke.swarm.cluster import (
    ACTIVE,
    ALREADY_IN_SWARM,
    ERROR,
    INACTIVE,
    LEAVE_LAST_MANAGER,
    LEAVE_LOCKED,
    LOCKED,
    NOT_A_MANAGER,
    NOT_IN_SWARM,
    SWARM_LOCKED,
    SwarmCluster,
)

INIT = {"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": ""}


class StaticAgent:
    """The ``Agent`` of a node with a fixed description."""

    def __init__(self) -> None:
        self.left: list[str] = []

    async def describe(self) -> dict[str, Any]:
        return {"Hostname": "node-a", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 1 << 30},
                "Engine": {"EngineVersion": "20.10.24", "Plugins": []}}

    async def remove_task_containers(self, node_id: str) -> None:
        self.left.append(node_id)


class Node:
    """A daemon's view: the cluster object on ``root`` and the events it published."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bus = EventBus()
        self.agent = StaticAgent()
        self.cluster = SwarmCluster(root / "swarm", agent=self.agent, publish=self.bus.publish)

    async def restart(self) -> Node:
        await self.cluster.close()
        node = Node(self.root)
        await node.cluster.start()
        return node


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


async def started(root: Path) -> Node:
    node = Node(root)
    await node.cluster.start()
    return node


async def test_inactive_node_answers_as_docker(root: Path) -> None:
    node = await started(root)
    assert node.cluster.status == INACTIVE
    with pytest.raises(errors.Unavailable, match=NOT_A_MANAGER.replace('"', '.')):
        await node.cluster.inspect()
    with pytest.raises(errors.Unavailable, match=NOT_IN_SWARM):
        await node.cluster.leave(force=True)
    info = await node.cluster.info()
    assert info == {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                    "ControlAvailable": False, "Error": "", "RemoteManagers": None}
    assert node.cluster.ping_status() == "inactive"


async def test_init_makes_a_one_manager_cluster(root: Path) -> None:
    node = await started(root)
    node_id = await node.cluster.init({**INIT, "Spec": {
        "Orchestration": {"TaskHistoryRetentionLimit": 7},
        "Dispatcher": {"HeartbeatPeriod": 2_000_000_000}}})
    swarm = await node.cluster.inspect()
    assert swarm["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 7
    assert swarm["Spec"]["Dispatcher"]["HeartbeatPeriod"] == 2_000_000_000
    assert swarm["Spec"]["Raft"]["ElectionTick"] == 10  # defaults kept where not given
    assert swarm["Spec"]["EncryptionConfig"] == {"AutoLockManagers": False}
    assert swarm["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    assert swarm["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Manager"]
    assert "RootCA" not in swarm and "UnlockKey" not in swarm
    info = await node.cluster.info()
    assert (info["NodeID"], info["NodeAddr"], info["LocalNodeState"]) == \
        (node_id, "127.0.0.1", "active")
    assert (info["Nodes"], info["Managers"], info["ControlAvailable"]) == (1, 1, True)
    assert info["RemoteManagers"] == [{"NodeID": node_id, "Addr": "127.0.0.1:2377"}]
    assert "JoinTokens" not in info["Cluster"] and info["Cluster"]["ID"] == swarm["ID"]
    [me] = await node.cluster.manager().nodes()
    assert me["ID"] == node_id
    assert me["Status"] == {"State": "ready", "Addr": "127.0.0.1"}
    assert me["ManagerStatus"] == {"Leader": True, "Reachability": "reachable",
                                   "Addr": "127.0.0.1:2377"}
    assert me["Description"]["Hostname"] == "node-a"
    assert me["Description"]["TLSInfo"] == swarm["TLSInfo"]
    assert node.cluster.ping_status() == "active/manager"
    with pytest.raises(errors.Unavailable, match="already part of a swarm"):
        await node.cluster.init(INIT)
    assert ALREADY_IN_SWARM.startswith("This node is already part of a swarm")
    await node.cluster.close()


async def test_bad_init_requests_leave_no_swarm(root: Path) -> None:
    node = await started(root)
    for request, message in (
            ({**INIT, "Spec": {"Name": "other"}}, 'swarm spec must be named "default"'),
            ({**INIT, "ListenAddr": ""}, 'invalid ListenAddr "": invalid empty address'),
            ({**INIT, "ListenAddr": "no-such-if0"}, "listen address must be"),
            ({**INIT, "AdvertiseAddr": "0.0.0.0"}, "advertise address must be a non-zero"),
            ({**INIT, "Spec": {"Dispatcher": {"HeartbeatPeriod": -1}}}, "HeartbeatPeriod"),
            ({**INIT, "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": "5"}}},
             "TaskHistoryRetentionLimit"),
            ({**INIT, "Spec": {"CAConfig": {"NodeCertExpiry": 60_000_000_000}}},
             "minimum certificate expiry time is: 1h0m0s")):
        with pytest.raises(errors.InvalidParameter, match=message):
            await node.cluster.init(request)
        assert node.cluster.status == INACTIVE
    # dockerd answers these two with a 500
    for request, message in (
            ({**INIT, "Availability": "away"}, 'invalid Availability: "away"'),
            ({**INIT, "DataPathPort": 80}, r"Datapath port number is not in valid range "
                                           r"\(1024-49151\) : 80")):
        with pytest.raises(errors.InternalError, match=message):
            await node.cluster.init(request)
        assert node.cluster.status == INACTIVE
    assert not (root / "swarm").exists()


async def test_state_survives_restart(root: Path) -> None:
    node = await started(root)
    node_id = await node.cluster.init(INIT)
    before = await node.cluster.inspect()
    node = await node.restart()
    assert node.cluster.status == ACTIVE
    after = await node.cluster.inspect()
    assert (after["ID"], after["JoinTokens"], after["TLSInfo"]) == \
        (before["ID"], before["JoinTokens"], before["TLSInfo"])
    assert (await node.cluster.info())["NodeID"] == node_id
    await node.cluster.close()


async def test_update_is_versioned_and_rotates_tokens(root: Path) -> None:
    node = await started(root)
    await node.cluster.init(INIT)
    swarm = await node.cluster.inspect()
    spec = {**swarm["Spec"], "Labels": {"env": "test"}}
    await node.cluster.update(swarm["Version"]["Index"], spec, rotate_worker=True,
                              rotate_manager=False, rotate_unlock=False)
    updated = await node.cluster.inspect()
    assert updated["Spec"]["Labels"] == {"env": "test"}
    assert updated["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Worker"]
    assert updated["JoinTokens"]["Manager"] == swarm["JoinTokens"]["Manager"]
    with pytest.raises(errors.InternalError,
                       match="rpc error: code = Unknown desc = update out of sequence"):
        await node.cluster.update(swarm["Version"]["Index"], spec, rotate_worker=False,
                                  rotate_manager=False, rotate_unlock=False)
    assert await node.cluster.inspect() == updated
    await node.cluster.close()


async def test_autolock_locks_after_restart_until_unlocked(root: Path) -> None:
    node = await started(root)
    await node.cluster.init({**INIT, "AutoLockManagers": True})
    key = await node.cluster.unlock_key()
    assert key.startswith("SWMKEY-1-")
    tokens = (await node.cluster.inspect())["JoinTokens"]
    node = await node.restart()
    assert node.cluster.status == LOCKED
    assert node.cluster.ping_status() == "locked"
    for call in (node.cluster.inspect(), node.cluster.unlock_key()):
        with pytest.raises(errors.Unavailable, match="Swarm is encrypted and needs to be"):
            await call
    info = await node.cluster.info()
    assert (info["LocalNodeState"], info["Error"], info["NodeID"]) == \
        ("locked", SWARM_LOCKED, "")
    with pytest.raises(errors.Unavailable, match="already part of a swarm"):
        await node.cluster.init(INIT)
    with pytest.raises(errors.Unavailable) as leave:
        await node.cluster.leave(force=False)
    assert leave.value.message == LEAVE_LOCKED
    with pytest.raises(errors.InvalidParameter, match="invalid key string"):
        await node.cluster.unlock("nonsense")
    with pytest.raises(errors.Unauthorized, match="invalid key provided"):
        await node.cluster.unlock("SWMKEY-1-" + "A" * 43)
    await node.cluster.unlock(key)
    assert node.cluster.status == ACTIVE
    assert (await node.cluster.inspect())["JoinTokens"] == tokens
    with pytest.raises(errors.Conflict, match="swarm is not locked"):
        await node.cluster.unlock(key)
    await node.cluster.close()


async def test_rotating_and_disabling_the_unlock_key(root: Path) -> None:
    node = await started(root)
    await node.cluster.init({**INIT, "AutoLockManagers": True})
    old = await node.cluster.unlock_key()
    swarm = await node.cluster.inspect()
    await node.cluster.update(swarm["Version"]["Index"], swarm["Spec"], rotate_worker=False,
                              rotate_manager=False, rotate_unlock=True)
    new = await node.cluster.unlock_key()
    assert new != old
    node = await node.restart()
    with pytest.raises(errors.Unauthorized):
        await node.cluster.unlock(old)
    await node.cluster.unlock(new)
    swarm = await node.cluster.inspect()
    spec = {**swarm["Spec"], "EncryptionConfig": {"AutoLockManagers": False}}
    await node.cluster.update(swarm["Version"]["Index"], spec, rotate_worker=False,
                              rotate_manager=False, rotate_unlock=False)
    assert await node.cluster.unlock_key() == ""
    node = await node.restart()
    assert node.cluster.status == ACTIVE  # no key needed any more
    await node.cluster.close()


async def test_secret_material_is_not_on_disk_in_the_clear(root: Path) -> None:
    node = await started(root)
    await node.cluster.init({**INIT, "AutoLockManagers": True})
    swarm = await node.cluster.inspect()
    key = await node.cluster.unlock_key()
    control = node.cluster.manager()
    ca_key = control.root_ca(await control.cluster()).key_pem
    await node.cluster.close()
    on_disk = b"".join(p.read_bytes() for p in (root / "swarm").rglob("*") if p.is_file())
    assert swarm["TLSInfo"]["TrustRoot"].encode() in on_disk  # public, stored as is
    for secret in (swarm["JoinTokens"]["Worker"].encode(), key.encode(), ca_key,
                   ca_key.split(b"\n")[1]):
        assert secret not in on_disk
    assert b"ENCRYPTED PRIVATE KEY" in (root / "swarm/certificates/swarm-node.key").read_bytes()


async def test_leave_rules(root: Path) -> None:
    node = await started(root)
    node_id = await node.cluster.init(INIT)
    with pytest.raises(errors.Unavailable) as refused:
        await node.cluster.leave(force=False)
    assert refused.value.message == LEAVE_LAST_MANAGER
    assert node.cluster.status == ACTIVE
    await node.cluster.leave(force=True)
    assert node.cluster.status == INACTIVE and node.agent.left == [node_id]
    assert not (root / "swarm").exists()
    node = await node.restart()
    assert node.cluster.status == INACTIVE
    assert await node.cluster.init(INIT) != node_id  # a new swarm can start
    await node.cluster.close()


async def test_node_update_and_its_rules(root: Path) -> None:
    node = await started(root)
    node_id = await node.cluster.init(INIT)
    control = node.cluster.manager()
    me = await control.node("node-a")  # by hostname
    assert me["ID"] == node_id
    assert (await control.node(node_id[:5]))["ID"] == node_id  # by prefix
    with pytest.raises(errors.NotFound, match="node nope not found"):
        await control.node("nope")
    spec = {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "drain"}
    await control.update_node(node_id, me["Version"]["Index"], spec)
    updated = await control.node(node_id)
    assert updated["Spec"] == spec
    with pytest.raises(errors.InternalError, match="update out of sequence"):
        await control.update_node(node_id, me["Version"]["Index"], spec)
    for bad, message in (({**spec, "Availability": "off"}, 'invalid Availability: "off"'),
                         ({**spec, "Role": "boss"}, 'invalid Role: "boss"')):
        with pytest.raises(errors.InvalidParameter, match=message):
            await control.update_node(node_id, updated["Version"]["Index"], bad)
    with pytest.raises(errors.InvalidParameter, match="demote the last manager"):
        await control.update_node(node_id, updated["Version"]["Index"],
                                  {**spec, "Role": "worker"})
    with pytest.raises(errors.InvalidParameter, match="must be demoted to worker"):
        await control.remove_node(node_id, force=True)
    assert (await control.node(node_id)) == updated
    await node.cluster.close()


async def test_node_filters(root: Path) -> None:
    node = await started(root)
    node_id = await node.cluster.init(INIT)
    control = node.cluster.manager()
    me = await control.node(node_id)
    await control.update_node(node_id, me["Version"]["Index"],
                              {"Labels": {"zone": "a"}, "Role": "manager",
                               "Availability": "active"})

    async def ids(**filters: list[str]) -> list[str]:
        return [n["ID"] for n in await control.nodes(
            {k.replace("_", "."): v for k, v in filters.items()})]
    assert await ids(role=["manager"]) == [node_id]
    assert await ids(role=["worker"]) == []
    assert await ids(name=["node-"]) == [node_id]
    assert await ids(id=[node_id[:3]]) == [node_id]
    assert await ids(node_label=["zone=a"]) == [node_id]
    assert await ids(node_label=["zone=b"]) == []
    assert await ids(node_label=["zone"]) == [node_id]
    assert await ids(membership=["accepted"]) == [node_id]
    with pytest.raises(errors.InvalidParameter, match="Invalid filter 'colour'"):
        await ids(colour=["x"])
    with pytest.raises(errors.InternalError, match="Invalid role filter: 'boss'"):
        await ids(role=["boss"])
    await node.cluster.close()


async def test_node_events_as_docker(root: Path) -> None:
    node = await started(root)
    stream = node.bus.stream(filters={"type": ["node"]})
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    node_id = await node.cluster.init(INIT)
    ready = await asyncio.wait_for(first, 5)
    assert (ready["Type"], ready["Action"], ready["scope"]) == ("node", "update", "swarm")
    assert ready["Actor"] == {"ID": node_id, "Attributes": {
        "name": "node-a", "state.old": "unknown", "state.new": "ready"}}
    control = node.cluster.manager()
    me = await control.node(node_id)
    await control.update_node(node_id, me["Version"]["Index"],
                              {"Labels": {}, "Role": "manager", "Availability": "drain"})
    drained = await asyncio.wait_for(anext(stream), 5)
    assert drained["Actor"]["Attributes"] == {
        "name": "node-a", "availability.old": "active", "availability.new": "drain"}
    await stream.aclose()
    await node.cluster.close()


async def test_unreadable_state_is_an_error_state_left_with_force(root: Path) -> None:
    node = await started(root)
    await node.cluster.init(INIT)
    await node.cluster.close()
    (root / "swarm" / "state.json").write_text("{not json")
    node = await started(root)  # the daemon still starts
    assert node.cluster.status == ERROR
    info = await node.cluster.info()
    assert info["LocalNodeState"] == "error" and "state.json" in info["Error"]
    with pytest.raises(errors.Unavailable, match="swarm state cannot be used"):
        node.cluster.manager()
    with pytest.raises(errors.Unavailable, match="already part of a swarm"):
        await node.cluster.init(INIT)
    with pytest.raises(errors.Unavailable, match="Use `--force` to leave anyway"):
        await node.cluster.leave(force=False)
    await node.cluster.leave(force=True)
    assert node.cluster.status == INACTIVE and not (root / "swarm").exists()
    await node.cluster.init(INIT)
    await node.cluster.close()


async def test_root_ca_changes_not_supported_are_refused(root: Path) -> None:
    node = await started(root)
    with pytest.raises(errors.NotSupported, match="SigningCACert"):
        await node.cluster.init({**INIT, "Spec": {"CAConfig": {"SigningCACert": "x"}}})
    assert node.cluster.status == INACTIVE
    await node.cluster.init(INIT)
    swarm = await node.cluster.inspect()
    spec = {**swarm["Spec"], "CAConfig": {**swarm["Spec"]["CAConfig"], "ForceRotate": 1}}
    with pytest.raises(errors.NotSupported, match="ForceRotate"):
        await node.cluster.update(swarm["Version"]["Index"], spec, rotate_worker=False,
                                  rotate_manager=False, rotate_unlock=False)
    assert await node.cluster.inspect() == swarm
    await node.cluster.close()
