"""Replicated and global jobs over a real SQLite store, pass by pass, with the agent's part
played by writing task states: MaxConcurrent bounds what runs, TotalCompletions what must
complete, failures are retried per the restart policy, an update starts a new iteration,
and ``ServiceStatus`` counts the current iteration."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.swarm.test_orchestration import NODE, Cluster, node, setup

from minke import errors
from minke.swarm.manager import tasks as t
from minke.swarm.manager.services import service_status
from minke.swarm.store import Obj, Tx


def job(name: str, mode: Obj, **restart: int | str) -> Obj:
    return {"Name": name, "Mode": mode, "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox", "Args": ["true"]},
        "RestartPolicy": {"Delay": 0, **restart}}}


async def run_all(c: Cluster, state: str = t.COMPLETE) -> list[str]:
    """The agent: every assigned task meant to run to completion ends in ``state``."""
    ended = []

    def run(tx: Tx) -> None:
        for task in tx.list("task"):
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
