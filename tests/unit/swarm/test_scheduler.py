"""The scheduler over a real SQLite store, running as in the manager (its watch feeding its
picture of the nodes): spread and binpack, reservations never over-committed, tasks that
fit nowhere pending with Docker's message and placed once something frees, generic
resources (discrete and named), host-mode ports, platforms, batches; and the picture it
keeps from events equal to one read from a snapshot."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from minke.swarm.manager import scheduler as sched
from minke.swarm.manager import tasks as t
from minke.swarm.manager.scheduler import STRATEGY_LABEL, PassStats, Scheduler
from minke.swarm.store import Obj, SQLiteStore, Store, Tx

CPU = 1_000_000_000
GIB = 1 << 30


def node(name: str, cpus: int = 4, gib: int = 8, *, generic: list[Obj] | None = None,
         arch: str = "x86_64", state: str = "ready") -> Obj:
    resources: Obj = {"NanoCPUs": cpus * CPU, "MemoryBytes": gib * GIB}
    if generic:
        resources["GenericResources"] = generic
    return {"ID": f"{name:0<25}", "Spec": {"Role": "worker", "Availability": "active",
                                           "Labels": {}},
            "Description": {"Hostname": name, "Resources": resources,
                            "Platform": {"OS": "linux", "Architecture": arch}},
            "Status": {"State": state, "Addr": "198.18.0.1"}}


def service(name: str, *, labels: dict[str, str] | None = None, ports: list[Obj] | None = None,
            **template: Any) -> Obj:
    svc: Obj = {"ID": f"{name:0<25}", "Spec": {
        "Name": name, "Labels": labels or {}, "Mode": {"Replicated": {"Replicas": 1}},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}, **template}}}
    if ports:
        svc["Endpoint"] = {"Ports": ports}
    return svc


class World:
    """A store with nodes, services and their tasks, and a running scheduler."""

    def __init__(self, tmp_path: Path, store: Store | None = None) -> None:
        self.store = store or SQLiteStore(tmp_path / "store.db")
        self.passes: list[PassStats] = []
        self.scheduler = Scheduler(self.store, on_pass=self.passes.append)

    async def add(self, *, nodes: list[Obj] | None = None,
                  services: dict[str, tuple[Obj, int]] | None = None) -> None:
        def write(tx: Tx) -> None:
            for n in nodes or []:
                tx.create("node", n)
            for svc, count in (services or {}).values():
                created = tx.get("service", svc["ID"]) or tx.create("service", svc)
                for slot in range(count):
                    tx.create("task", t.new_task(created, slot=slot + 1))
        await self.store.update(write)

    async def tasks(self) -> list[Obj]:
        return await self.store.view(lambda tx: tx.list("task"))

    async def settled(self, assigned: int) -> list[Obj]:
        """The tasks once ``assigned`` of them are and the scheduler has nothing to do."""
        deadline = time.monotonic() + 20
        while True:
            tasks = await self.tasks()
            done = [x for x in tasks if x["Status"]["State"] == t.ASSIGNED]
            if len(done) == assigned and not self.scheduler._events \
                    and all(x["Status"].get("Err") for x in tasks
                            if t.rank(x["Status"]["State"]) < t.rank(t.ASSIGNED)):
                return tasks
            assert len(done) <= assigned, "more tasks placed than fit"
            assert time.monotonic() < deadline, f"{len(done)} of {assigned} placed"
            await asyncio.sleep(0.02)

    async def end(self, task_id: str, state: str = t.COMPLETE) -> None:
        def write(tx: Tx) -> None:
            task = tx.get("task", task_id)
            assert task is not None
            t.set_state(task, state, state)
            tx.update("task", task)
        await self.store.update(write)

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.store.close()


async def make(tmp_path: Path, nodes: list[Obj], store: Store | None = None) -> World:
    """A world with ``nodes`` and its scheduler started."""
    w = World(tmp_path, store)
    await w.add(nodes=nodes)
    w.scheduler.start()
    return w


def per_node(tasks: list[Obj]) -> Counter[str]:
    return Counter(x["NodeID"][:2] for x in tasks if x["Status"]["State"] == t.ASSIGNED)


async def test_spread_evens_out_tasks_and_binpack_fills_nodes(tmp_path: Path) -> None:
    w = await make(tmp_path, [node("n1"), node("n2"), node("n3")])
    try:
        one_cpu = {"Resources": {"Reservations": {"NanoCPUs": CPU}}}
        await w.add(services={"s": (service("spread", **one_cpu), 6)})
        assert per_node(await w.settled(6)) == {"n1": 2, "n2": 2, "n3": 2}
        await w.add(services={"b": (service("binpack", labels={STRATEGY_LABEL: "binpack"},
                                             **one_cpu), 5)})
        tasks = await w.settled(11)
        packed = Counter(x["NodeID"][:2] for x in tasks if x["ServiceID"].startswith("binp"))
        # 2 CPUs are left on each node: binpack fills one, then the next.
        assert sorted(packed.values()) == [1, 2, 2]
        assert per_node(tasks) == {"n1": 4, "n2": 4, "n3": 3}
    finally:
        await w.close()


async def test_never_over_commits_and_places_once_something_frees(tmp_path: Path) -> None:
    w = await make(tmp_path, [node("n1", cpus=2), node("n2", cpus=2)])
    try:
        await w.add(services={"s": (service("heavy", Resources={"Reservations": {
            "NanoCPUs": CPU, "MemoryBytes": GIB}}), 5)})
        tasks = await w.settled(4)
        [waiting] = [x for x in tasks if x["Status"]["State"] == t.PENDING]
        assert waiting["Status"]["Err"] == "no suitable node (insufficient resources on 2 nodes)"
        assert waiting["Status"]["Message"] == "pending task scheduling"
        assert not waiting.get("NodeID")
        await w.end(next(x["ID"] for x in tasks if x["Status"]["State"] == t.ASSIGNED))
        tasks = await w.settled(4)  # the freed CPU went to the waiting task
        assert next(x for x in tasks if x["ID"] == waiting["ID"])["Status"]["State"] \
            == t.ASSIGNED
    finally:
        await w.close()


async def test_reservation_larger_than_any_node_pends(tmp_path: Path) -> None:
    w = await make(tmp_path, [node("n1"), node("n2", state="down")])
    try:
        await w.add(services={"s": (service("huge", Resources={"Reservations": {
            "MemoryBytes": 1 << 40}}), 1)})
        [task] = await w.settled(0)
        assert task["Status"]["Err"] == ("no suitable node (1 node not available for new "
                                         "tasks; insufficient resources on 1 node)")
    finally:
        await w.close()


async def test_generic_resources_named_units_go_to_one_task_each(tmp_path: Path) -> None:
    gpus = [{"NamedResourceSpec": {"Kind": "gpu", "Value": f"GPU-{i}"}} for i in (1, 2)]
    w = await make(tmp_path, [node("n1", generic=gpus), node("n2", generic=[
        {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]), node("n3")])
    try:
        await w.add(services={"s": (service("cuda", Resources={"Reservations": {
            "GenericResources": [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]}}),
            4)})
        tasks = await w.settled(3)
        placed = [x for x in tasks if x["Status"]["State"] == t.ASSIGNED]
        assert per_node(placed) == {"n1": 2, "n2": 1}
        named = sorted(x["AssignedGenericResources"][0]["NamedResourceSpec"]["Value"]
                       for x in placed if x["NodeID"].startswith("n1"))
        assert named == ["GPU-1", "GPU-2"]
        [on_n2] = [x for x in placed if x["NodeID"].startswith("n2")]
        assert on_n2["AssignedGenericResources"] == [
            {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]
        [waiting] = [x for x in tasks if x["Status"]["State"] == t.PENDING]
        assert waiting["Status"]["Err"] == "no suitable node (insufficient resources on 3 nodes)"
        # A GPU given back goes to the waiting task, and it is the one freed.
        freed = next(x for x in placed if x["NodeID"].startswith("n1"))
        await w.end(freed["ID"], t.FAILED)
        tasks = await w.settled(3)
        again = next(x for x in tasks if x["ID"] == waiting["ID"])
        assert again["AssignedGenericResources"] == freed["AssignedGenericResources"]
    finally:
        await w.close()


async def test_host_ports_platforms_and_explanations(tmp_path: Path) -> None:
    w = await make(tmp_path, [node("n1"), node("n2", arch="aarch64")])
    try:
        port = [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                 "PublishMode": "host"}]
        await w.add(services={"p": (service("web", ports=port), 3)})
        tasks = await w.settled(2)
        assert per_node(tasks) == {"n1": 1, "n2": 1}
        [waiting] = [x for x in tasks if x["Status"]["State"] == t.PENDING]
        assert waiting["Status"]["Err"] == \
            "no suitable node (host-mode port already in use on 2 nodes)"
        await w.add(services={"a": (service("amd", Placement={"Platforms": [
            {"OS": "linux", "Architecture": "amd64"}]}), 2)})
        tasks = await w.settled(4)
        assert {x["NodeID"][:2] for x in tasks if x["ServiceID"].startswith("amd")} == {"n1"}
    finally:
        await w.close()


async def test_batches_are_bounded_and_the_picture_matches_a_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sched, "MAX_BATCH", 4)
    w = await make(tmp_path, [node(f"n{i}", cpus=8) for i in range(5)])
    try:
        await w.add(services={"s": (service("many", Resources={"Reservations": {
            "NanoCPUs": CPU // 2}}), 30)})
        tasks = await w.settled(30)
        assert max(p.decided for p in w.passes) <= 4
        assert sum(p.decided for p in w.passes) == 30
        counts = per_node(tasks)
        assert max(counts.values()) - min(counts.values()) <= 1
        for task in tasks[:7]:
            await w.end(task["ID"], t.FAILED)
        await w.add(services={"s2": (service("more"), 3)})
        await w.settled(26)
        fresh = Scheduler(w.store)
        await w.store.view(fresh._load)
        for node_id, info in w.scheduler._nodes.items():
            other = fresh._nodes[node_id]
            assert (info.tasks, info.per_service, info.capacity) == \
                (other.tasks, other.per_service, other.capacity)
    finally:
        await w.close()


async def test_a_decision_on_a_task_gone_meanwhile_is_undone(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.add(nodes=[node("n1", cpus=1)],
                services={"s": (service("gone", Resources={"Reservations": {
                    "NanoCPUs": CPU}}), 1)})
    await w.store.view(w.scheduler._load)
    decisions, _ = w.scheduler._decide()
    [decision] = decisions
    assert w.scheduler._nodes[decision.node_id].capacity.cpu == 0
    await w.store.update(lambda tx: tx.delete("task", decision.task_id))
    lost = await w.store.update(lambda tx: w.scheduler._commit(
        tx, decisions=decisions, explained={}))
    assert lost == decisions
    w.scheduler._unplace(decision)
    assert w.scheduler._nodes[decision.node_id].capacity.cpu == CPU
    await w.store.close()


async def test_every_waiting_task_gets_its_explanation_batch_after_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sched, "MAX_BATCH", 4)
    w = await make(tmp_path, [node("n1", cpus=1)])
    try:
        await w.add(services={"s": (service("queue", Resources={"Reservations": {
            "NanoCPUs": CPU}}), 10)})
        tasks = await w.settled(1)  # settled: every task not placed has its Err
        assert sorted(x["Status"]["State"] for x in tasks) == [t.ASSIGNED] + [t.PENDING] * 9
        assert max(p.decided for p in w.passes) <= 4
    finally:
        await w.close()


@pytest.mark.integration
async def test_the_scheduler_runs_on_the_etcd_store(tmp_path: Path, etcd: Any) -> None:
    from minke.swarm.store.etcd import EtcdStore

    w = await make(tmp_path, [node("n1", cpus=2), node("n2", cpus=2)],
                   EtcdStore(etcd.config()))
    try:
        await w.add(services={"s": (service("e", Resources={"Reservations": {
            "NanoCPUs": CPU}}), 5)})
        tasks = await w.settled(4)
        assert per_node(tasks) == {"n1": 2, "n2": 2}
        await w.end(next(x["ID"] for x in tasks if x["Status"]["State"] == t.ASSIGNED))
        await w.settled(4)
    finally:
        await w.close()


async def test_an_unknown_strategy_label_is_refused(tmp_path: Path) -> None:
    from minke import errors
    from minke.swarm.manager.services import ServiceControl

    store = SQLiteStore(tmp_path / "store.db")
    spec = {"Name": "x", "Labels": {STRATEGY_LABEL: "binpak"},
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    with pytest.raises(errors.InvalidParameter, match="invalid label com.minke.scheduler."
                       "strategy='binpak': the scheduling strategy is one of spread, binpack"):
        await ServiceControl(store).create(spec)
    assert await store.view(lambda tx: tx.list("service")) == []
    await store.close()
