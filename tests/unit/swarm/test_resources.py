"""Resources as users send them: reservations and limits checked in SwarmKit's words before
anything is stored (negative, too small, malformed, named or unknown generic resources, a
job whose TotalCompletions is below its MaxConcurrent), the node-side
``--node-generic-resource`` form, and what a task's container learns of its units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minke import errors
from minke.swarm.manager.resources import (
    Capacity,
    Demand,
    parse_node_generic,
    task_demand,
    task_env,
)
from minke.swarm.manager.services import ServiceControl
from minke.swarm.store import Obj, SQLiteStore, Tx

CPU = 1_000_000_000


def spec(resources: Any = None, mode: Obj | None = None) -> Obj:
    template: Obj = {"ContainerSpec": {"Image": "busybox"}}
    if resources is not None:
        template["Resources"] = resources
    return {"Name": "r", "Mode": mode or {"Replicated": {"Replicas": 1}},
            "TaskTemplate": template}


def gpu(value: Any, kind: str = "gpu") -> Obj:
    return {"DiscreteResourceSpec": {"Kind": kind, "Value": value}}


async def store_with_gpu_node(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "store.db")

    def seed(tx: Tx) -> None:
        tx.create("node", {"ID": "n1", "Spec": {}, "Status": {"State": "down"},
                           "Description": {"Resources": {"GenericResources": [gpu(2)]}}})
    await store.update(seed)
    return store


@pytest.mark.parametrize(("resources", "message"), [
    ({"Reservations": {"NanoCPUs": -1}}, "invalid cpu value -1e-09: Must be at least 0.001"),
    ({"Limits": {"NanoCPUs": 1000}}, "invalid cpu value 1e-06: Must be at least 0.001"),
    ({"Reservations": {"MemoryBytes": -5}}, "invalid memory value -5: Must be at least 4MiB"),
    ({"Reservations": {"MemoryBytes": "1g"}},
     "invalid Resources.Reservations.MemoryBytes: '1g' (an integer is expected)"),
    ({"Reservations": []}, "invalid Resources.Reservations: a JSON object is expected"),
    ({"Reservations": {"GenericResources": [
        {"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-1"}}]}},
     "invalid argument for resource gpu"),
    ({"Reservations": {"GenericResources": [gpu(0)]}},
     "invalid generic resource gpu=0: Must be at least 1"),
    ({"Reservations": {"GenericResources": [gpu(1, "")]}}, "invalid generic resource kind ''"),
    ({"Reservations": {"GenericResources": [{}]}}, "one of DiscreteResourceSpec or"),
    ({"Limits": {"GenericResources": [gpu(1)]}}, "can only be reserved, not limited"),
    ({"Reservations": {"GenericResources": [gpu(1, "fpga")]}},
     "unknown generic resource 'fpga': no node of the swarm advertises it"),
])
async def test_bad_resources_are_refused_and_nothing_is_stored(
        tmp_path: Path, resources: Obj, message: str) -> None:
    store = await store_with_gpu_node(tmp_path)
    before = await store.view(lambda tx: tx.index)
    with pytest.raises(errors.InvalidParameter) as caught:
        await ServiceControl(store).create(spec(resources))
    assert str(caught.value).startswith("rpc error: code = InvalidArgument desc = ")
    assert message in str(caught.value)
    assert await store.view(lambda tx: (tx.index, tx.list("service"))) == (before, [])
    await store.close()


async def test_job_total_completions_below_max_concurrent_is_refused(tmp_path: Path) -> None:
    store = await store_with_gpu_node(tmp_path)
    with pytest.raises(errors.InvalidParameter, match=r"ReplicatedJob.TotalCompletions \(2\) "
                       r"must be at least ReplicatedJob.MaxConcurrent \(4\)"):
        await ServiceControl(store).create(spec(mode={"ReplicatedJob": {
            "MaxConcurrent": 4, "TotalCompletions": 2}}))
    created = await ServiceControl(store).create(spec(
        {"Reservations": {"NanoCPUs": 64 * CPU, "GenericResources": [gpu(8)]}},
        mode={"ReplicatedJob": {"MaxConcurrent": 3}}))
    # Larger than any node and a known kind: accepted; the task will pend (Docker's way).
    assert created["Spec"]["Mode"]["ReplicatedJob"] == {"MaxConcurrent": 3,
                                                        "TotalCompletions": 3}
    await store.close()


def test_node_generic_resources_from_the_daemon_flags() -> None:
    assert parse_node_generic(["gpu=2", "fpga=F-1", "fpga=F-2", "gpu=1"]) == [
        gpu(3), {"NamedResourceSpec": {"Kind": "fpga", "Value": "F-1"}},
        {"NamedResourceSpec": {"Kind": "fpga", "Value": "F-2"}}]
    for bad, why in (("gpu", "KIND=COUNT or KIND=NAME"), ("gpu=0", "at least 1"),
                     ("=2", "KIND=COUNT"), ("gpu=2", "counted or named")):
        with pytest.raises(errors.InvalidParameter, match=why):
            parse_node_generic([bad] if why != "counted or named" else [bad, "gpu=G-1"])


def test_capacity_takes_and_gives_back_named_units() -> None:
    node = {"Description": {"Resources": {"NanoCPUs": 2 * CPU, "MemoryBytes": 1 << 30,
                                          "GenericResources": [
        {"NamedResourceSpec": {"Kind": "gpu", "Value": v}} for v in ("b", "a", "c")]}}}
    capacity = Capacity.of(node)
    demand = task_demand({"Resources": {"Reservations": {"NanoCPUs": CPU,
                                                         "GenericResources": [gpu(2)]}}})
    assert demand == Demand(CPU, 0, (("gpu", 2),))
    given = capacity.take(demand)
    assert [g["NamedResourceSpec"]["Value"] for g in given] == ["a", "b"]
    assert not capacity.fits(demand) and capacity.named == {"gpu": ["c"]}
    capacity.give_back(demand, given)
    assert capacity == Capacity.of(node)
    assert task_env({"AssignedGenericResources": given + [gpu(1, "fpga")]}) == [
        "DOCKER_RESOURCE_FPGA=1", "DOCKER_RESOURCE_GPU=a,b"]


def test_minked_takes_node_generic_resources_from_flags_and_daemon_json(
        tmp_path: Path) -> None:
    import json

    from minke.daemon.main import parse_args

    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"node-generic-resources": ["gpu=GPU-1", "gpu=GPU-2"]}))
    args = parse_args(["--config-file", str(path)])
    assert args.generic_resources == [
        {"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-1"}},
        {"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-2"}}]
    path.write_text("{}")
    with pytest.raises(SystemExit, match="minked: invalid node generic resource 'gpu=-1'"):
        parse_args(["--config-file", str(path), "--node-generic-resource", "gpu=-1"])
