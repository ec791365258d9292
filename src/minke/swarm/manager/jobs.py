"""The job orchestrators (SwarmKit's ``orchestrator/jobs``): replicated and global jobs run
their tasks to completion instead of keeping them running.

A job runs in iterations: ``JobStatus.JobIteration.Index`` names the current one (a new one
starts on every update of the service) and each task carries the iteration it belongs to.
Tasks of an earlier iteration still running are shut down. Within the iteration:

- a replicated job fills slots 0..``TotalCompletions``-1 (numbered from 0 as SwarmKit's:
  the docker CLI's progress view counts on it), at most ``MaxConcurrent`` of them
  running at a time, until every slot has a task that COMPLETEd (exited 0);
- a global job gets one task per eligible node (ready, active, constraints met);
- a task that failed is replaced in its slot (or on its node) as its ``RestartPolicy``
  says (jobs default to ``on-failure``), after ``Delay``; a slot the policy gives up on
  stays failed for this iteration, so the job never counts it complete;
- a task ORPHANED (its node went down) did not fail: its slot gets a new task at once,
  without counting a restart (a global job's node gets one when it is eligible again); a
  task that COMPLETEd stays complete whatever happens to its node.

Job tasks are created with DesiredState COMPLETE (READY while a restart delay runs). The
bookkeeping keys are the replicated orchestrator's: ``_restarts``, ``_start_at``, and
``_dead_iteration`` (the iteration a slot was given up in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minke.swarm.manager import restarts
from minke.swarm.manager import tasks as t
from minke.swarm.store import Obj, Tx


def iteration_of(service: Obj) -> int:
    return ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index", 0)


def new_job_task(service: Obj, *, slot: int = 0, node_id: str = "") -> Obj:
    task = t.new_task(service, slot=slot, node_id=node_id, desired=t.COMPLETE)
    task["JobIteration"] = {"Index": iteration_of(service)}
    return task


def reconcile(tx: Tx, service: Obj, tasks: list[Obj], eligible: list[str], now: float,
              wake: list[float], save: Callable[[Tx, Obj], None]) -> None:
    """One pass over a job service's ``tasks``; ``eligible`` are the node IDs a global job
    runs on."""
    iteration = iteration_of(service)
    replicated = "ReplicatedJob" in service["Spec"]["Mode"]
    current = []
    for task in tasks:
        if (task.get("JobIteration") or {}).get("Index") == iteration:
            current.append(task)
        elif t.is_active(task):  # an earlier run: stop what still runs, release the rest
            task["DesiredState"] = t.SHUTDOWN
            save(tx, task)
    policy = restarts.policy(service)
    for task in list(current):
        if not t.is_active(task) or task["Status"]["State"] == t.COMPLETE:
            continue
        if not t.has_ended(task):
            if restarts.release_due(task, now, wake, t.COMPLETE):
                save(tx, task)
            continue
        task["DesiredState"] = t.SHUTDOWN  # failed, rejected or shut down: replace it?
        if task["Status"]["State"] == t.ORPHANED:
            # Its node went down: the task did not fail, so no restart is counted or
            # waited for (as for services). A replicated job's slot is run again at once
            # elsewhere; a global job's node gets a new task when it is back.
            save(tx, task)
            if replicated:
                new = new_job_task(service, slot=task.get("Slot") or 0)
                new["_restarts"] = task.get("_restarts", [])
                current.append(tx.create("task", new))
            continue
        history = restarts.history(task, policy, now)
        if history is None:
            task["_dead_iteration"] = iteration
            save(tx, task)
            continue
        save(tx, task)
        new = new_job_task(service, slot=task.get("Slot") or 0,
                           node_id="" if replicated else task.get("NodeID", ""))
        restarts.delay(new, policy, history, now, wake)
        current.append(tx.create("task", new))
    if replicated:
        _replicated(tx, service, current)
    else:
        _global(tx, service, current, eligible)


def _taken(tasks: list[Obj], iteration: int, by: str) -> tuple[set[Any], set[Any]]:
    """(slots or nodes, as ``by`` says, with a task running or due; those done or given
    up on)."""
    running, done = set(), set()
    for task in tasks:
        key = task.get(by, "")
        if task["Status"]["State"] == t.COMPLETE or task.get("_dead_iteration") == iteration:
            done.add(key)
        elif t.is_active(task):
            running.add(key)
    return running - done, done


def _replicated(tx: Tx, service: Obj, tasks: list[Obj]) -> None:
    job = service["Spec"]["Mode"]["ReplicatedJob"]
    running, done = _taken(tasks, iteration_of(service), "Slot")
    room = min(job["MaxConcurrent"] - len(running),
               job["TotalCompletions"] - len(running) - len(done))
    slot = 0
    for _ in range(max(0, room)):
        while slot in running or slot in done:
            slot += 1
        running.add(slot)
        tasks.append(tx.create("task", new_job_task(service, slot=slot)))


def _global(tx: Tx, service: Obj, tasks: list[Obj], eligible: list[str]) -> None:
    running, done = _taken(tasks, iteration_of(service), "NodeID")
    for node_id in sorted(set(eligible) - running - done):
        tasks.append(tx.create("task", new_job_task(service, node_id=node_id)))
