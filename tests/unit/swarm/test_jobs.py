"""Replicated and global jobs over a real SQLite store, pass by pass, with the agent's part
played by writing task states: MaxConcurrent bounds what runs, TotalCompletions what must
complete, failures are retried per the restart policy, an update starts a new iteration,
and ``ServiceStatus`` counts the current iteration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.swarm.test_orchestration import NODE, Cluster, node, setup

from minke import errors
from minke.swarm.manager import dispatcher as d
from minke.swarm.manager import tasks as t
from minke.swarm.manager.orchestrator import Orchestrator
from minke.swarm.manager.services import service_status
from minke.swarm.store import UPDATE, Event, Obj, SQLiteStore, Tx


def job(name: str, mode: Obj, **restart: int | str) -> Obj:
    return {"Name": name, "Mode": mode, "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox", "Args": ["true"]},
        "RestartPolicy": {"Delay": 0, **restart}}}


async def run_all(c: Cluster, state: str = t.COMPLETE, *, only: set[str] | None = None
                  ) -> list[str]:
    """The agent: every assigned task meant to run to completion (of ``only``, if given)
    ends in ``state``."""
    ended = []

    def run(tx: Tx) -> None:
        for task in tx.list("task"):
            if only is not None and task["ID"] not in only:
                continue
            if task["DesiredState"] == t.COMPLETE and not t.has_ended(task) \
                    and t.rank(task["Status"]["State"]) >= t.rank(t.ASSIGNED):
                t.set_state(task, state, state)
                tx.update("task", task)
                ended.append(task["ID"])
    await c.store.update(run)
    return ended


async def status(c: Cluster, service_id: str) -> Obj:
    def read(tx: Tx) -> Obj:
        return service_status(tx.get("service", service_id), tx.list("task"), tx.list("node"))
    return await c.store.view(read)


async def test_replicated_job_runs_max_concurrent_until_total_completions(
        tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    service = await c.services.create(
        job("batch", {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}}))
    assert service["JobStatus"]["JobIteration"] == {"Index": 0}
    await c.settle()
    tasks = await c.tasks()
    assert sorted(x["Slot"] for x in tasks) == [0, 1]
    assert {x["DesiredState"] for x in tasks} == {t.COMPLETE}
    assert {x["Status"]["State"] for x in tasks} == {t.ASSIGNED}
    assert all(x["JobIteration"] == {"Index": 0} for x in tasks)
    assert await status(c, service["ID"]) == {
        "RunningTasks": 0, "DesiredTasks": 2, "CompletedTasks": 0}

    for ran, completed in ((2, 2), (2, 4), (1, 5)):
        assert len(await run_all(c)) == ran
        await c.settle()
        assert (await status(c, service["ID"]))["CompletedTasks"] == completed
    tasks = await c.tasks()
    assert sorted(x["Slot"] for x in tasks) == [0, 1, 2, 3, 4]
    assert {x["Status"]["State"] for x in tasks} == {t.COMPLETE}
    assert await status(c, service["ID"]) == {
        "RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 5}
    await c.settle()
    assert len(await c.tasks()) == 5  # done: nothing more is started


async def test_failed_job_task_is_retried_in_its_slot_up_to_max_attempts(
        tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    service = await c.services.create(
        job("flaky", {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
            MaxAttempts=2))
    await c.settle()
    for attempt in range(3):
        assert len(await run_all(c, t.FAILED)) == 1
        await c.settle()
        slot = await c.tasks()
        assert {x["Slot"] for x in slot} == {0}
        assert len(slot) == min(attempt + 2, 3)
    # Two restarts spent: the slot stays failed, the job incomplete, nothing runs.
    assert await run_all(c) == []
    assert (await status(c, service["ID"]))["CompletedTasks"] == 0


async def test_job_default_restart_is_on_failure(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create({"Name": "once", "Mode": {"ReplicatedJob": {}},
                             "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}})
    inspected = await c.services.get("once", insert_defaults=True)
    assert inspected["Spec"]["Mode"] == {
        "ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert inspected["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "on-failure"


async def test_update_of_a_job_starts_a_new_iteration(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    spec = job("again", {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}})
    service = await c.services.create(spec)
    await c.settle()
    await run_all(c)
    await c.settle()
    current = await c.services.get("again")
    updated = await c.services.update("again", current["Version"]["Index"], spec)
    iteration = updated["JobStatus"]["JobIteration"]["Index"]
    assert iteration == current["Version"]["Index"] != 0
    assert "UpdateStatus" not in updated  # jobs are re-run, not rolled
    await c.settle()
    fresh = [x for x in await c.tasks() if x["JobIteration"]["Index"] == iteration]
    assert sorted(x["Slot"] for x in fresh) == [0, 1]
    assert await status(c, service["ID"]) == {
        "RunningTasks": 0, "DesiredTasks": 2, "CompletedTasks": 0}
    old = [x for x in await c.tasks() if x["JobIteration"]["Index"] != iteration]
    assert len(old) == 2 and {x["DesiredState"] for x in old} == {t.SHUTDOWN}


async def test_update_stops_tasks_of_the_previous_iteration(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    spec = job("long", {"ReplicatedJob": {"MaxConcurrent": 1}})
    await c.services.create(spec)
    await c.settle()
    (first,) = await c.tasks()
    current = await c.services.get("long")
    await c.services.update("long", current["Version"]["Index"], spec)
    await c.settle()
    old = next(x for x in await c.tasks() if x["ID"] == first["ID"])
    assert old["DesiredState"] == t.SHUTDOWN


async def test_global_job_runs_once_per_eligible_node(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    await store.update(lambda tx: tx.create("node", node("node2node2node2node2node2")))
    await store.update(lambda tx: tx.create(
        "node", node("node3node3node3node3node3", availability="drain")))
    c = Cluster(store)
    service = await c.services.create(job("everywhere", {"GlobalJob": {}}))
    await c.settle()
    tasks = await c.tasks()
    assert sorted(x["NodeID"] for x in tasks) == sorted([NODE, "node2node2node2node2node2"])
    assert await status(c, service["ID"]) == {
        "RunningTasks": 0, "DesiredTasks": 2, "CompletedTasks": 0}
    await run_all(c)
    await c.settle()
    assert len(await c.tasks()) == 2
    assert await status(c, service["ID"]) == {
        "RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 2}


@pytest.mark.parametrize("mode, message", [
    ({"ReplicatedJob": {"MaxConcurrent": -1}}, "ReplicatedJob.MaxConcurrent"),
    ({"ReplicatedJob": {"TotalCompletions": "3"}}, "ReplicatedJob.TotalCompletions"),
    ({"ReplicatedJob": {}, "GlobalJob": {}}, "more than one service mode"),
])
async def test_bad_job_specs_are_refused(tmp_path: Path, mode: Obj, message: str) -> None:
    c = Cluster(await setup(tmp_path))
    with pytest.raises(errors.MinkeError, match=message):
        await c.services.create(job("bad", mode))
    assert await c.store.view(lambda tx: tx.list("service")) == []


async def test_job_mode_cannot_change_and_filters_name_it(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create(job("j", {"GlobalJob": {}}))
    current = await c.services.get("j")
    with pytest.raises(errors.MinkeError, match="service mode change is not allowed"):
        await c.services.update("j", current["Version"]["Index"],
                                job("j", {"ReplicatedJob": {}}))
    assert [s["Spec"]["Name"] for s in await c.services.list({"mode": ["global-job"]})] \
        == ["j"]
    assert await c.services.list({"mode": ["global"]}) == []


async def test_restart_delay_holds_the_replacement_ready(tmp_path: Path) -> None:
    c = Cluster(await setup(tmp_path))
    await c.services.create(job("slow", {"ReplicatedJob": {}}, Delay=3600 * 1_000_000_000))
    await c.settle()
    await run_all(c, t.FAILED)
    await c.settle()
    (replacement,) = [x for x in await c.tasks() if t.is_active(x)]
    assert replacement["DesiredState"] == t.READY  # waits out the delay without running

    def due(tx: Tx) -> None:
        task = tx.get("task", replacement["ID"])
        task["_start_at"] = 0
        tx.update("task", task)
    await c.store.update(due)
    await c.settle()
    task = next(x for x in await c.tasks() if x["ID"] == replacement["ID"])
    assert task["DesiredState"] == t.COMPLETE and task["Slot"] == 0
    assert await run_all(c) == [task["ID"]]


class Watched(Orchestrator):
    """The orchestrator as the leader runs it (on its own store watch), counting its passes
    and the events its watch was handed."""

    def __init__(self, store: SQLiteStore) -> None:
        super().__init__(store)
        self.passes = 0
        self.seen = 0  # the newest event index handed to the orchestrator's watch
        self.busy = False
        watch = store.watch

        async def counted(kinds: Any, since: int | None = None) -> AsyncIterator[Event]:
            async for event in watch(kinds, since=since):
                self.seen = event.index  # the watch handles it before anything else runs
                yield event
        store.watch = counted  # type: ignore[method-assign]

    async def reconcile(self) -> None:
        self.busy, self.passes = True, self.passes + 1
        try:
            await super().reconcile()
        finally:
            self.busy = False

    async def quiet(self) -> None:
        """Until the watch has been handed every write so far and no pass runs or is
        due."""
        index = await self.store.view(lambda tx: tx.index)

        async def wait() -> None:
            while self.seen < index or self.busy or self._wake.is_set():
                await asyncio.sleep(0.01)
        await asyncio.wait_for(wait(), 30)  # a hang guard, not a measure


async def test_running_job_reacts_to_a_completion_and_to_nothing_else(
        tmp_path: Path) -> None:
    """The job's next task is created by the pass its completion wakes (no timer); the
    task's progress on its node and the orchestrator's own writes wake no pass (each pass
    reads every task: a busy cluster's reports must not cost one each)."""
    store = await setup(tmp_path)
    c = Cluster(store)
    await c.services.create(
        job("chain", {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 2}}))
    orchestrator = Watched(store)
    orchestrator.start()
    try:
        await orchestrator.quiet()
        (first,) = await c.tasks()
        passes = orchestrator.passes

        async def move(state: str, **fields: str) -> None:
            def write(tx: Tx) -> None:
                task = tx.get("task", first["ID"])
                task.update(fields)
                t.set_state(task, state, state)
                tx.update("task", task)
            await store.update(write)
        await move(t.ASSIGNED, NodeID=NODE)  # on a node that can take it: nothing to do
        for state in (t.ACCEPTED, t.PREPARING, t.STARTING, t.RUNNING):
            await move(state)
        await orchestrator.quiet()
        assert orchestrator.passes == passes

        await move(t.COMPLETE)
        await orchestrator.quiet()
        assert orchestrator.passes == passes + 1  # its own write (the new task): no more
        tasks = await c.tasks()
        assert sorted((x["Slot"], x["Status"]["State"]) for x in tasks) == [
            (0, t.COMPLETE), (1, t.NEW)]
        assert not orchestrator._timers  # woken by the completion, not by a timer
    finally:
        await orchestrator.stop()
        await store.close()


async def test_a_placement_on_a_drained_node_wakes_the_orchestrator(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    orchestrator = Orchestrator(store)
    await orchestrator.reconcile()  # every node active: a placement needs no pass
    task = {"ID": "t1", "DesiredState": t.COMPLETE, "NodeID": NODE,
            "Status": {"State": t.ASSIGNED}}
    pending = {**task, "NodeID": "", "Status": {"State": t.PENDING}}
    placed = Event(10, "task", UPDATE, "t1", task, pending)
    assert not orchestrator.relevant(placed)
    drained = node(NODE, availability="drain")
    assert orchestrator.relevant(Event(11, "node", UPDATE, NODE, drained, node(NODE)))
    # Events come in store order: a placement after the drain is looked at.
    assert orchestrator.relevant(Event(12, "task", UPDATE, "t1", task, pending))
    progress = {**task, "Status": {"State": t.RUNNING}}
    assert not orchestrator.relevant(Event(13, "task", UPDATE, "t1", progress, task))


async def test_an_orphaned_job_task_is_replaced_without_counting_a_restart(
        tmp_path: Path) -> None:
    """A task whose node went down did not fail: its slot runs again at once, however
    often, even with one attempt allowed; the slot's completed task is not touched."""
    c = Cluster(await setup(tmp_path))
    service = await c.services.create(
        job("lost", {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}},
            MaxAttempts=1))
    await c.settle()
    slot0 = next(x["ID"] for x in await c.tasks() if x["Slot"] == 0)
    assert await run_all(c, only={slot0}) == [slot0]
    for _ in range(3):  # the node of slot 1's task goes down, again and again
        assert await c.store.update(lambda tx: d.mark_down(tx, NODE, "heartbeat failure")) == 1
        await c.store.update(lambda tx: tx.update("node", {
            **tx.get("node", NODE), "Status": {"State": "ready", "Addr": "127.0.0.1"}}))
        await c.settle()
        live = [x for x in await c.tasks() if t.is_active(x) and not t.has_ended(x)]
        assert [(x["Slot"], x["Status"]["State"]) for x in live] == [(1, t.ASSIGNED)]
        assert "_restarts" not in live[0] or live[0]["_restarts"] == []
    tasks = await c.tasks()
    assert next(x for x in tasks if x["ID"] == slot0)["Status"]["State"] == t.COMPLETE
    assert sorted(x["Status"]["State"] for x in tasks if x["Slot"] == 1) == [
        t.ASSIGNED, t.ORPHANED, t.ORPHANED, t.ORPHANED]
    assert await run_all(c) == [live[0]["ID"]]
    await c.settle()
    assert (await status(c, service["ID"]))["CompletedTasks"] == 2
