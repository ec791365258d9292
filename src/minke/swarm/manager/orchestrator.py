"""The orchestrators (SwarmKit's ``orchestrator/replicated``, ``global``, ``restart`` and
``taskreaper``), run as one reconciler pass over services, tasks and nodes:

- replicated services get one active task per slot 1..Replicas: missing slots are filled,
  slots beyond are removed (DesiredState REMOVE; slots whose task is not running first,
  then the highest);
- global services get one active task per eligible node (ready, availability active,
  constraints met); a drained or no longer matching node has its task shut down;
- the restart supervisor: a task that ended while meant to run is shut down and, as its
  ``RestartPolicy`` says (condition none/on-failure/any, max attempts within a window),
  replaced in its slot, started after ``Delay`` (DesiredState READY until then). A slot
  not restarted stays as it ended until the service's spec changes, as in SwarmKit;
- tasks that lost their node (ORPHANED when it went down, or on a drained or removed
  node) are replaced at once, without the restart delay and without counting as a
  restart: the task did not fail (SwarmKit skips the delay for drained nodes);
- jobs (replicated-job, global-job) run to completion: ``jobs``;
- the task reaper: tasks of removed services and slots go once their container is gone,
  and each slot keeps ``TaskHistoryRetentionLimit`` tasks.

Bookkeeping kept on objects (never shown by the API): a task's ``_restarts`` (times of the
restarts that led to it), ``_start_at`` (when a delayed restart may start) and
``_dead_serial`` (the spec serial a slot was left dead at); a service's ``_serial``, bumped
by every spec change.
"""

from __future__ import annotations

import time
from collections import defaultdict

from minke.swarm.manager import constraints, jobs, restarts
from minke.swarm.manager import tasks as t
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.store import DELETE, UPDATE, Event, Obj, Store, Tx

DEFAULT_HISTORY = 5


def save(tx: Tx, task: Obj) -> None:
    """Write ``task`` and keep the caller's copy current (its new ``Version``)."""
    task.update(tx.update("task", task))


def eligible_nodes(nodes: list[Obj], service: Obj) -> list[Obj]:
    """Nodes that may get new tasks of ``service``: ready, active, constraints met."""
    placement = service["Spec"].get("TaskTemplate", {}).get("Placement") or {}
    wanted = constraints.parse(placement.get("Constraints") or [])
    return [n for n in nodes if n["Status"]["State"] == "ready"
            and n["Spec"].get("Availability", "active") == "active"
            and all(c.match(n) for c in wanted)]


def _node_lost(task: Obj, nodes: dict[str, Obj]) -> bool:
    """The task was placed on a node that went down (the dispatcher orphaned it), was
    removed, or is drained."""
    if task["Status"]["State"] == t.ORPHANED:
        return True
    if not task.get("NodeID") or t.has_ended(task) or \
            t.rank(task["Status"]["State"]) < t.rank(t.ASSIGNED):
        return False
    node = nodes.get(task["NodeID"])
    return node is None or node["Spec"].get("Availability") == "drain"


class Orchestrator(Reconciler):
    name = "orchestrator"
    kinds = ("service", "task", "node", "cluster")

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        # Every node as the last pass saw it could take tasks (none drained or removed
        # since): a task placed then needs no pass. Node events seen since keep it False.
        self._nodes_fine = False
        self._node_events = 0

    async def reconcile(self) -> None:
        node_events = self._node_events
        delays, index, nodes_fine = await self.store.update(self._pass_at)
        self.covered(index)
        if node_events == self._node_events:  # else a node changed after the pass's read
            self._nodes_fine = nodes_fine
        if delays:
            self.kick(min(delays))

    def relevant(self, event: Event) -> bool:
        """A task's progress on its node (accepted … running, a pending explanation) changes
        no decision here; its end, its desired state and its coming and going do, and its
        placement when it may be on a node that lost it (drained or removed). Events come
        in store order, so a drain is seen here before any placement that followed it."""
        if event.kind == "node":
            self._node_events += 1
            if event.action == DELETE or event.object["Spec"].get("Availability") == "drain":
                self._nodes_fine = False
            return True
        if event.kind != "task" or event.action != UPDATE or event.old is None:
            return True
        new, old = event.object, event.old
        return (t.has_ended(new) != t.has_ended(old)
                or new["DesiredState"] != old["DesiredState"]
                or (new.get("NodeID") != old.get("NodeID") and not self._nodes_fine))

    def _pass_at(self, tx: Tx) -> tuple[list[float], int, bool]:
        """A pass; the store index it saw (with its own writes); whether every node could
        take tasks."""
        wake = self._pass(tx)
        nodes_fine = all(n["Spec"].get("Availability", "active") != "drain"
                         for n in tx.list("node"))
        return wake, tx.index, nodes_fine

    def _pass(self, tx: Tx) -> list[float]:
        now = time.time()
        clusters = tx.list("cluster")
        orchestration = clusters[0]["Spec"].get("Orchestration") or {} if clusters else {}
        history = orchestration.get("TaskHistoryRetentionLimit", DEFAULT_HISTORY)
        nodes = tx.list("node")
        services = {s["ID"]: s for s in tx.list("service")}
        by_service: dict[str, list[Obj]] = defaultdict(list)
        for task in tx.list("task"):
            if t.attachment_container(task) and not t.has_ended(task):
                continue  # a standalone container's network attachment: no service's
            by_service[task["ServiceID"]].append(task)
        wake: list[float] = []
        for service_id, tasks in by_service.items():
            if service_id not in services:
                for task in tasks:
                    if t.rank(task["DesiredState"]) < t.rank(t.REMOVE):
                        task["DesiredState"] = t.REMOVE
                        save(tx, task)
        for service in services.values():
            tasks = by_service.get(service["ID"], [])
            if t.is_job(service):
                eligible = [n["ID"] for n in eligible_nodes(nodes, service)] \
                    if "GlobalJob" in service["Spec"]["Mode"] else []
                jobs.reconcile(tx, service, tasks, eligible, now, wake, save)
                continue
            self._supervise(tx, service, tasks, nodes, now, wake)
            if "Global" in service["Spec"]["Mode"]:
                self._global(tx, service, tasks, nodes)
            else:
                self._replicated(tx, service, tasks)
        for tasks in by_service.values():
            self._reap(tx, tasks, history)
        return wake

    # -- the restart supervisor ---------------------------------------------------------

    def _supervise(self, tx: Tx, service: Obj, tasks: list[Obj], nodes: list[Obj],
                   now: float, wake: list[float]) -> None:
        policy = restarts.policy(service)
        global_nodes = {n["ID"] for n in eligible_nodes(nodes, service)} \
            if "Global" in service["Spec"]["Mode"] else None
        by_id = {n["ID"]: n for n in nodes}
        for task in list(tasks):
            if not t.is_active(task):
                continue
            if global_nodes is None and _node_lost(task, by_id):
                task["DesiredState"] = t.SHUTDOWN
                save(tx, task)
                new = t.new_task(service, slot=task.get("Slot") or 0)
                new["_restarts"] = task.get("_restarts", [])
                tasks.append(tx.create("task", new))
                continue
            if not t.has_ended(task):
                if restarts.release_due(task, now, wake, t.RUNNING):
                    save(tx, task)
                continue
            task["DesiredState"] = t.SHUTDOWN
            history = restarts.history(task, policy, now)
            if history is None or (global_nodes is not None
                                   and task.get("NodeID") not in global_nodes):
                task["_dead_serial"] = service.get("_serial", 0)
                save(tx, task)
                continue
            save(tx, task)
            new = t.new_task(service, slot=task.get("Slot") or 0,
                             node_id=task.get("NodeID", "") if global_nodes is not None else "")
            restarts.delay(new, policy, history, now, wake)
            tasks.append(tx.create("task", new))

    # -- replicated and global --------------------------------------------------------

    def _replicated(self, tx: Tx, service: Obj, tasks: list[Obj]) -> None:
        replicas = service["Spec"]["Mode"]["Replicated"]["Replicas"]
        serial = service.get("_serial", 0)
        slots: dict[int, list[Obj]] = defaultdict(list)
        for task in tasks:
            slots[task.get("Slot") or 0].append(task)
        active = {s for s, ts in slots.items() if any(t.is_active(x) for x in ts)}
        dead = {s for s, ts in slots.items() if s not in active
                and any(x.get("_dead_serial") == serial for x in ts)}
        filled = active | dead
        if len(filled) < replicas:
            slot = 0
            for _ in range(replicas - len(filled)):
                slot += 1
                while slot in filled:
                    slot += 1
                filled.add(slot)
                tasks.append(tx.create("task", t.new_task(service, slot=slot)))
        elif len(filled) > replicas:
            def running(slot: int) -> bool:
                return any(x["Status"]["State"] == t.RUNNING and t.is_active(x)
                           for x in slots[slot])
            doomed = sorted(filled, key=lambda s: (s in active, running(s), -s))
            for slot in doomed[:len(filled) - replicas]:
                for task in slots[slot]:
                    task.pop("_dead_serial", None)
                    if t.rank(task["DesiredState"]) < t.rank(t.REMOVE):
                        task["DesiredState"] = t.REMOVE
                        save(tx, task)

    def _global(self, tx: Tx, service: Obj, tasks: list[Obj], nodes: list[Obj]) -> None:
        eligible = {n["ID"] for n in eligible_nodes(nodes, service)}
        paused = {n["ID"] for n in nodes if n["Spec"].get("Availability") == "pause"}
        serial = service.get("_serial", 0)
        covered = set()
        for task in tasks:
            node = task.get("NodeID", "")
            if t.is_active(task):
                if node not in eligible and node not in paused:
                    task["DesiredState"] = t.SHUTDOWN
                    save(tx, task)
                    continue
                covered.add(node)
            elif task.get("_dead_serial") == serial:
                covered.add(node)
        for node_id in sorted(eligible - covered):
            tasks.append(tx.create("task", t.new_task(service, slot=0, node_id=node_id)))

    # -- the task reaper ----------------------------------------------------------------

    @staticmethod
    def _reap(tx: Tx, tasks: list[Obj], history: int) -> None:
        def gone(task: Obj) -> bool:
            return t.has_ended(task) or t.rank(task["Status"]["State"]) < t.rank(t.ASSIGNED)
        slots: dict[tuple[int, str], list[Obj]] = defaultdict(list)
        for task in tasks:
            if task["DesiredState"] == t.REMOVE and gone(task):
                tx.delete("task", task["ID"])
                continue
            slots[t.slot_key(task)].append(task)
        for slot in slots.values():
            if len(slot) <= history:
                continue
            excess = len(slot) - history
            for task in slot:  # in creation order: the oldest go first
                if excess <= 0:
                    break
                if not t.is_active(task) and gone(task):
                    tx.delete("task", task["ID"])
                    excess -= 1
