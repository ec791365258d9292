"""The reconcilers over a real SQLite store, one pass at a time, with the agent's part
played by writing task states: replicated and global orchestration, the restart
supervisor, the task reaper, the scheduler's filters and messages, and the updater's
stop-first and start-first replacement; services' validation leaving the store as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minke import errors
from minke.swarm.manager import tasks as t
from minke.swarm.manager.orchestrator import Orchestrator
from minke.swarm.manager.scheduler import Scheduler
from minke.swarm.manager.services import ServiceControl
from minke.swarm.manager.updater import Updater
from minke.swarm.store import Obj, SQLiteStore, Tx

SECOND = 1_000_000_000
NODE = "node1node1node1node1node1"


async def setup(tmp_path: Path, *, history: int = 5) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "store.db")

    def seed(tx: Tx) -> None:
        tx.create("cluster", {"ID": "c", "Spec": {
            "Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": history}}})
        tx.create("node", node(NODE))
    await store.update(seed)
    return store


def node(node_id: str, availability: str = "active", labels: dict[str, str] | None = None,
         ) -> Obj:
    return {"ID": node_id, "Spec": {"Role": "manager", "Availability": availability,
                                    "Labels": labels or {}},
            "Description": {"Hostname": node_id[:5], "Resources": {
                "NanoCPUs": 2 * SECOND, "MemoryBytes": 1 << 30}},
            "Status": {"State": "ready", "Addr": "127.0.0.1"}}


def spec(name: str, replicas: int | None = 1, **template: Any) -> Obj:
    mode = {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}}
    return {"Name": name, "Mode": mode, "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox", "Args": ["sleep", "600"]},
        "RestartPolicy": {"Condition": "any", "Delay": 0}, **template}}


class Cluster:
    """The store and one of each reconciler, run pass by pass."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.services = ServiceControl(store)
        self.orchestrator = Orchestrator(store)
        self.scheduler = Scheduler(store)
        self.updater = Updater(store)

    async def settle(self) -> None:
        for _ in range(3):
            await self.orchestrator.reconcile()
            await self.updater.reconcile()
            await self.scheduler.reconcile()

    async def tasks(self, service_id: str | None = None) -> list[Obj]:
        return await self.store.view(lambda tx: [
            x for x in tx.list("task") if service_id is None or x["ServiceID"] == service_id])

    async def agent(self, state: str = t.RUNNING, *, only: set[str] | None = None) -> None:
        """What the agent does: assigned tasks meant to run → ``state``; tasks meant to
        stop → shutdown."""
        def run(tx: Tx) -> None:
            for task in tx.list("task"):
                if only is not None and task["ID"] not in only:
                    continue
                if t.has_ended(task) or t.rank(task["Status"]["State"]) < t.rank(t.ASSIGNED):
                    continue
                if t.rank(task["DesiredState"]) > t.rank(t.RUNNING):
                    t.set_state(task, t.SHUTDOWN, "shutdown")
                elif task["DesiredState"] == t.RUNNING:
                    t.set_state(task, state, state)
                else:
                    continue
                tx.update("task", task)
        await self.store.update(run)

    async def end(self, task_id: str, state: str) -> None:
        def end(tx: Tx) -> None:
            task = tx.get("task", task_id)
            assert task is not None
            t.set_state(task, state, state)
            tx.update("task", task)
        await self.store.update(end)


def active(tasks: list[Obj]) -> list[Obj]:
    return [x for x in tasks if t.is_active(x)]


async def test_replicated_service_fills_scales_and_reaps_its_slots(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    service = await c.services.create(spec("web", 3))
    await c.settle()
    tasks = await c.tasks()
    assert sorted(x["Slot"] for x in tasks) == [1, 2, 3]
    assert {x["Status"]["State"] for x in tasks} == {t.ASSIGNED}
    assert {x["NodeID"] for x in tasks} == {NODE}
    await c.agent()
    await c.settle()
    assert len(await c.tasks()) == 3  # nothing more to do: no duplicates

    current = await c.services.get(service["ID"])
    await c.services.update("web", current["Version"]["Index"], spec("web", 5))
    await c.settle()
    assert sorted(x["Slot"] for x in active(await c.tasks())) == [1, 2, 3, 4, 5]

    await c.agent()
    current = await c.services.get("web")
    await c.services.update("web", current["Version"]["Index"], spec("web", 1))
    await c.settle()
    tasks = await c.tasks()
    assert sorted(x["Slot"] for x in active(tasks)) == [1]
    assert {x["DesiredState"] for x in tasks if x["Slot"] != 1} == {t.REMOVE}
    await c.agent()  # the agent stops them; the reaper removes them
    await c.settle()
    assert [x["Slot"] for x in await c.tasks()] == [1]

    await c.services.remove("web")
    await c.settle()
    assert [x["DesiredState"] for x in await c.tasks()] == [t.REMOVE]
    await c.agent()
    await c.settle()
    assert await c.tasks() == []


async def test_restart_supervisor_follows_the_policy(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create(spec("any"))
    await c.services.create(spec("none", RestartPolicy={"Condition": "none"}))
    await c.services.create(spec("onfail", RestartPolicy={"Condition": "on-failure",
                                                          "Delay": 0, "MaxAttempts": 2}))
    await c.services.create(spec("delayed", RestartPolicy={"Condition": "any",
                                                           "Delay": 3600 * SECOND}))
    await c.settle()
    await c.agent()
    ids = {s["Spec"]["Name"]: s["ID"] for s in await c.services.list({})}
    for name in ("any", "none", "delayed"):
        [task] = await c.tasks(ids[name])
        await c.end(task["ID"], t.COMPLETE if name == "none" else t.FAILED)
    await c.settle()

    old, new = await c.tasks(ids["any"])
    assert (old["DesiredState"], new["DesiredState"], new["Slot"]) == \
        (t.SHUTDOWN, t.RUNNING, old["Slot"])
    [done] = await c.tasks(ids["none"])
    assert done["DesiredState"] == t.SHUTDOWN and done["Status"]["State"] == t.COMPLETE
    old, waiting = await c.tasks(ids["delayed"])
    assert waiting["DesiredState"] == t.READY  # the restart delay has not passed

    # on-failure: a completed task is not restarted; failed ones at most MaxAttempts times
    for _ in range(4):
        await c.agent()
        live = [x for x in await c.tasks(ids["onfail"]) if not t.has_ended(x)]
        for task in live:
            await c.end(task["ID"], t.FAILED)
        await c.settle()
    tasks = await c.tasks(ids["onfail"])
    assert len(tasks) == 3 and {x["Status"]["State"] for x in tasks} == {t.FAILED}
    assert active(tasks) == []
    await c.settle()
    assert len(await c.tasks(ids["onfail"])) == 3  # a dead slot stays dead until a change


async def test_task_history_is_kept_per_slot(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path, history=3))
    service = await c.services.create(spec("churn"))
    await c.settle()
    for _ in range(6):
        await c.agent()
        [live] = active(await c.tasks())
        await c.end(live["ID"], t.FAILED)
        await c.settle()
    tasks = await c.tasks(service["ID"])
    assert len(tasks) == 3 and len(active(tasks)) == 1


async def test_global_service_follows_the_nodes(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    c = Cluster(store)
    other = "node2node2node2node2node2"
    await store.update(lambda tx: tx.create("node", node(other, labels={"zone": "a"})))
    service = await c.services.create(spec("g", None))
    await c.settle()
    assert sorted(x["NodeID"] for x in await c.tasks()) == sorted([NODE, other])
    await c.agent()

    def drain(tx: Tx) -> None:
        n = tx.get("node", other)
        assert n is not None
        n["Spec"]["Availability"] = "drain"
        tx.update("node", n)
    await store.update(drain)
    await c.settle()
    by_node = {x["NodeID"]: x["DesiredState"] for x in await c.tasks(service["ID"])}
    assert by_node == {NODE: t.RUNNING, other: t.SHUTDOWN}


@pytest.mark.parametrize(("template", "why"), [
    ({"Placement": {"Constraints": ["node.labels.zone==mars"]}},
     "no suitable node (scheduling constraints not satisfied on 1 node)"),
    ({"Resources": {"Reservations": {"MemoryBytes": 1 << 40}}},
     "no suitable node (insufficient resources on 1 node)"),
])
async def test_scheduler_explains_pending_tasks(tmp_path: Path, template: Obj,
                                                why: str) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create(spec("p", 1, **template))
    await c.settle()
    [task] = await c.tasks()
    assert task["Status"]["State"] == t.PENDING and task["Status"]["Err"] == why
    assert not task.get("NodeID")


async def test_scheduler_max_replicas_and_drained_node(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    c = Cluster(store)
    await c.services.create(spec("m", 2, Placement={"MaxReplicas": 1}))
    await c.settle()
    states = sorted((x["Status"]["State"], x["Status"].get("Err", "")) for x in await c.tasks())
    assert states == [(t.ASSIGNED, ""),
                      (t.PENDING, "no suitable node (max replicas per node limit exceed)")]

    def drain(tx: Tx) -> None:
        n = tx.get("node", NODE)
        assert n is not None
        n["Spec"]["Availability"] = "drain"
        tx.update("node", n)
    await store.update(drain)
    await c.services.create(spec("d"))
    await c.settle()
    # Both the new service's task and the one drain moved off the node wait for a node.
    waiting = [x for x in await c.tasks() if x["Slot"] == 1 and x["Status"]["State"] == t.PENDING
               and "available" in x["Status"].get("Err", "")]
    assert len(waiting) == 2
    assert {x["Status"]["Err"] for x in waiting} == {
        "no suitable node (1 node not available for new tasks)"}


@pytest.mark.parametrize("order", ["stop-first", "start-first"])
async def test_updater_replaces_every_slot(tmp_path: Path, order: str) -> None:
    c = Cluster(await setup(tmp_path))
    service = await c.services.create({**spec("u", 3), "UpdateConfig": {
        "Parallelism": 2, "Order": order, "Monitor": 0}, "RollbackConfig": {"Monitor": 0}})
    await c.settle()
    await c.agent()
    old_ids = {x["ID"] for x in await c.tasks()}
    new_spec = spec("u", 3)
    new_spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:v2"
    new_spec["UpdateConfig"] = {"Parallelism": 2, "Order": order, "Monitor": 0}
    new_spec["RollbackConfig"] = {"Monitor": 0}
    current = await c.services.get(service["ID"])
    await c.services.update("u", current["Version"]["Index"], new_spec)
    await c.settle()
    tasks = await c.tasks()
    new = [x for x in tasks if x["ID"] not in old_ids]
    assert len(new) == 2  # one batch of Parallelism slots
    if order == "stop-first":
        assert {x["DesiredState"] for x in new} == {t.READY}
        assert sum(x["DesiredState"] == t.SHUTDOWN for x in tasks if x["ID"] in old_ids) == 2
    else:
        assert {x["DesiredState"] for x in new} == {t.RUNNING}
        assert {x["DesiredState"] for x in tasks if x["ID"] in old_ids} == {t.RUNNING}
    for _ in range(6):
        await c.agent()
        await c.settle()
    tasks = await c.tasks()
    live = active(tasks)
    assert sorted(x["Slot"] for x in live) == [1, 2, 3]
    assert {x["Spec"]["ContainerSpec"]["Image"] for x in live} == {"busybox:v2"}
    assert {x["Status"]["State"] for x in live} == {t.RUNNING}
    assert {x["Status"]["State"] for x in tasks if x["ID"] in old_ids} == {t.SHUTDOWN}
    assert (await c.services.get("u"))["UpdateStatus"]["State"] == "completed"

    current = await c.services.get("u")
    await c.services.update("u", current["Version"]["Index"], {}, rollback=True)
    for _ in range(12):  # RollbackConfig's default: one slot at a time
        await c.agent()
        await c.settle()
    live = active(await c.tasks())
    assert {x["Spec"]["ContainerSpec"]["Image"] for x in live} == {"busybox"}
    assert (await c.services.get("u"))["UpdateStatus"]["State"] == "rollback_completed"


async def test_update_failure_pauses(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create(spec("f", 2))
    await c.settle()
    await c.agent()
    new_spec = spec("f", 2)
    new_spec["TaskTemplate"]["ContainerSpec"]["Image"] = "broken"
    current = await c.services.get("f")
    await c.services.update("f", current["Version"]["Index"], new_spec)
    await c.settle()
    await c.agent()
    await c.settle()
    [new] = [x for x in active(await c.tasks()) if x.get("_update")]
    await c.end(new["ID"], t.FAILED)
    await c.settle()
    status = (await c.services.get("f"))["UpdateStatus"]
    assert status["State"] == "paused"
    assert status["Message"] == ("update paused due to failure or early termination of "
                                 f"task {new['ID']}")


async def test_bad_specs_leave_the_store_unchanged(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    c = Cluster(store)
    await c.services.create(spec("one"))
    before = await store.view(lambda tx: tx.index)
    with pytest.raises(errors.Conflict, match="service one already exists"):
        await c.services.create(spec("one"))
    bad = [spec("no good"), {**spec("x"), "Mode": {"Global": {}, "Replicated": {}}},
           {"Name": "y", "TaskTemplate": {"ContainerSpec": {}}},
           spec("z", Placement={"Constraints": ["node.labels.a~b"]}),
           spec("w", RestartPolicy={"Condition": "sometimes"})]
    for body in bad:
        with pytest.raises(errors.InvalidParameter):
            await c.services.create(body)
    current = await c.services.get("one")
    with pytest.raises(errors.InternalError, match="update out of sequence"):
        await c.services.update("one", current["Version"]["Index"] - 1, spec("one"))
    assert await store.view(lambda tx: tx.index) == before


async def test_a_new_leader_resumes_without_duplicates(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    c = Cluster(store)
    await c.services.create(spec("r", 4))
    await c.settle()
    await c.agent()
    ids = {x["ID"] for x in await c.tasks()}
    await store.close()
    again = Cluster(SQLiteStore(tmp_path / "store.db"))
    await again.settle()
    assert {x["ID"] for x in await again.tasks()} == ids
    await again.store.close()


async def test_update_completes_after_the_monitor_period(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create(spec("mon"))
    await c.settle()
    await c.agent()
    new_spec = {**spec("mon"), "UpdateConfig": {"Monitor": 3600 * SECOND}}
    new_spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:v2"
    current = await c.services.get("mon")
    await c.services.update("mon", current["Version"]["Index"], new_spec)
    for _ in range(4):
        await c.agent()
        await c.settle()
    [live] = active(await c.tasks())
    assert live["Spec"]["ContainerSpec"]["Image"] == "busybox:v2"
    assert live["Status"]["State"] == t.RUNNING
    assert (await c.services.get("mon"))["UpdateStatus"]["State"] == "updating"


@pytest.mark.parametrize(("window", "tasks"), [(0, 2), (1, 4)])
async def test_restart_window_bounds_the_attempts_counted(tmp_path: Path, window: int,
                                                          tasks: int) -> None:
    """MaxAttempts 1: without a window one restart in all; with a window (1 ns) that has
    always passed by the next failure, every failure is restarted again."""
    c = Cluster(await setup(tmp_path))
    await c.services.create(spec("w", RestartPolicy={
        "Condition": "any", "Delay": 0, "MaxAttempts": 1, "Window": window}))
    await c.settle()
    for _ in range(3):
        await c.agent()
        for task in active(await c.tasks()):
            await c.end(task["ID"], t.FAILED)
        await c.settle()
    assert len(await c.tasks()) == tasks


async def test_placement_preference_spreads_over_label_values(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    c = Cluster(store)
    zones = {NODE: "a", "node2node2node2node2node2": "a", "node3node3node3node3node3": "b"}

    def label(tx: Tx) -> None:
        for node_id, zone in zones.items():
            n = tx.get("node", node_id)
            if n is None:
                tx.create("node", node(node_id, labels={"zone": zone}))
            else:
                n["Spec"]["Labels"] = {"zone": zone}
                tx.update("node", n)
    await store.update(label)
    await c.services.create(spec("zoned", 4, Placement={
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]}))
    await c.settle()
    placed = [zones[x["NodeID"]] for x in await c.tasks()]
    assert sorted(placed) == ["a", "a", "b", "b"]
    per_node = [x["NodeID"] for x in await c.tasks() if zones[x["NodeID"]] == "a"]
    assert len(set(per_node)) == 2  # spread inside the value as well
