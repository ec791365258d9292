"""The updater (SwarmKit's ``orchestrator/update``): replaces the tasks of a service whose
task template changed, a batch at a time, while ``UpdateStatus`` says ``updating`` (or
``rollback_started``, with ``RollbackConfig``).

A batch is ``Parallelism`` slots (0: all); the next batch starts ``Delay`` after the last
one finished. A slot is replaced as ``Order`` says: *stop-first* shuts the old task down
and starts the new one (created READY) once the old one has stopped; *start-first* starts
the new one and shuts the old one down once the new one runs. A new task that fails is the
update's failure: ``FailureAction`` pause stops it ("update paused due to failure or
early termination of task …"), continue goes on, rollback rolls the service back to its
previous spec. When no slot runs an old spec and the new tasks have run for ``Monitor``,
the update is ``completed``.

Bookkeeping (never shown): a new task's ``_update`` (made by the updater) and ``_after``
(stop-first: the old tasks it waits for); a service's ``_batch_open`` and ``_next_batch``.
"""

from __future__ import annotations

import time
from collections import defaultdict

from minke.swarm.manager import tasks as t
from minke.swarm.manager.orchestrator import save
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.manager.services import DEFAULT_UPDATE
from minke.swarm.store import Obj, Tx
from minke.units import parse_rfc3339

SECOND = 1e9
UPDATING = ("updating", "rollback_started")


class Updater(Reconciler):
    name = "updater"
    kinds = ("service", "task")

    async def reconcile(self) -> None:
        delays: list[float] = await self.store.update(self._pass)
        if delays:
            self.kick(min(delays))

    def _pass(self, tx: Tx) -> list[float]:
        wake: list[float] = []
        for service in tx.list("service"):
            status = service.get("UpdateStatus") or {}
            if status.get("State") in UPDATING:
                # Only the tasks of services being updated: a pass runs on every task
                # event, and reading all tasks of a busy cluster each time is its cost.
                self._update(tx, service, tx.find("task", service_id=service["ID"]), wake)
        return wake

    def _update(self, tx: Tx, service: Obj, tasks: list[Obj], wake: list[float]) -> None:
        now = time.time()
        rollback = service["UpdateStatus"]["State"] == "rollback_started"
        config = {**DEFAULT_UPDATE,
                  **(service["Spec"].get("RollbackConfig" if rollback else "UpdateConfig")
                     or {})}
        by_id = {x["ID"]: x for x in tasks}
        for task in tasks:
            if task.get("_update") and task["Status"]["State"] in (t.FAILED, t.REJECTED) \
                    and not task.get("_update_failure"):
                task["_update_failure"] = True
                save(tx, task)
                if self._failed(tx, service, task, config["FailureAction"], rollback):
                    return
        slots: dict[tuple[int, str], list[Obj]] = defaultdict(list)
        for task in tasks:
            slots[t.slot_key(task)].append(task)
        pending, in_progress = [], 0
        for slot in slots.values():
            old = [x for x in slot if t.is_active(x) and t.is_dirty(x, service)]
            new = [x for x in slot if t.is_active(x) and not t.is_dirty(x, service)]
            if not new:
                if old:
                    pending.append(old)
                continue
            latest = new[-1]
            if latest["DesiredState"] == t.READY and latest.get("_after"):
                if all(a not in by_id or t.has_ended(by_id[a]) for a in latest["_after"]):
                    latest["DesiredState"] = t.RUNNING
                    latest.pop("_after")
                    save(tx, latest)
                in_progress += 1
                continue
            if old and latest["Status"]["State"] == t.RUNNING:
                for task in old:  # start-first: the new one runs, the old goes
                    task["DesiredState"] = t.SHUTDOWN
                    save(tx, task)
            elif old or (latest.get("_update") and not t.has_ended(latest)
                         and t.rank(latest["Status"]["State"]) < t.rank(t.RUNNING)):
                in_progress += 1
        if not pending and not in_progress:
            # Monitor: the new tasks must have run that long before the update is done
            # (a failure meanwhile is the update's failure, above).
            since = [parse_rfc3339(x["Status"]["Timestamp"]) for x in tasks
                     if x.get("_update") and t.is_active(x)
                     and x["Status"]["State"] == t.RUNNING]
            left = (config.get("Monitor") or 0) / SECOND - (now - max(since, default=0))
            if left > 0:
                wake.append(left)
                return
            service["UpdateStatus"] = {
                **service["UpdateStatus"],
                "State": "rollback_completed" if rollback else "completed",
                "CompletedAt": t.now(),
                "Message": "rollback completed" if rollback else "update completed"}
            for key in ("_batch_open", "_next_batch"):
                service.pop(key, None)
            tx.update("service", service)
            return
        if in_progress or not pending:
            return
        if service.get("_batch_open"):  # the batch just finished: the delay starts now
            service.pop("_batch_open")
            service["_next_batch"] = now + (config.get("Delay") or 0) / SECOND
        if service.get("_next_batch", 0) > now:
            wake.append(service["_next_batch"] - now)
            tx.update("service", service)
            return
        parallelism = config.get("Parallelism")
        batch = pending if not parallelism else pending[:parallelism]
        start_first = config.get("Order") == "start-first"
        for old in batch:
            first = old[0]
            new = t.new_task(service, slot=first.get("Slot") or 0,
                             node_id=first.get("NodeID", "") if not first.get("Slot") else "")
            new["_update"] = True
            if not start_first:
                for task in old:
                    task["DesiredState"] = t.SHUTDOWN
                    save(tx, task)
                new["DesiredState"], new["_after"] = t.READY, [x["ID"] for x in old]
            tx.create("task", new)
        service["_batch_open"] = True
        service.pop("_next_batch", None)
        tx.update("service", service)

    @staticmethod
    def _failed(tx: Tx, service: Obj, task: Obj, action: str, rollback: bool) -> bool:
        """Apply ``FailureAction``; True if the update stops here."""
        if action == "continue":
            return False
        if action == "rollback" and not rollback and service.get("PreviousSpec"):
            service["Spec"], service["PreviousSpec"] = service["PreviousSpec"], service["Spec"]
            service["_serial"] = service.get("_serial", 0) + 1
            service["UpdateStatus"] = {
                "State": "rollback_started", "StartedAt": t.now(),
                "Message": "update rolled back due to failure or early termination of "
                           f"task {task['ID']}"}
        else:
            service["UpdateStatus"] = {
                **service["UpdateStatus"],
                "State": "rollback_paused" if rollback else "paused",
                "Message": f"update paused due to failure or early termination of task "
                           f"{task['ID']}"}
        tx.update("service", service)
        return True
