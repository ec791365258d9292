"""The scheduler (SwarmKit's ``manager/scheduler``): gives each unassigned task a node.

A node must pass every filter: ready and availability active, placement constraints,
``MaxReplicas`` per node, and the task's resource reservations within what the node has
left after the reservations of the active tasks it holds. Among those that pass, *spread*:
the fewest tasks of the same service, then the fewest active tasks overall; placement
preferences first narrow the choice to the label value with the fewest of the service's
tasks. A task no node passes stays PENDING with SwarmKit's explanation ("no suitable node
(scheduling constraints not satisfied on 1 node)"). Global tasks come with their node and
are only checked against it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from minke.swarm.manager import constraints
from minke.swarm.manager import tasks as t
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.store import Obj, Tx

Filter = tuple[str, str, Callable[[Obj], bool]]  # (name, explanation, passes)


def _plural(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


def _reservations(task: Obj) -> tuple[int, int]:
    reserved = (task["Spec"].get("Resources") or {}).get("Reservations") or {}
    return reserved.get("NanoCPUs") or 0, reserved.get("MemoryBytes") or 0


def _spread_over(nodes: list[Obj], preference: Obj, service_id: str,
                 per_service: Counter[tuple[str, str]]) -> list[Obj]:
    """A placement preference ``{"Spread": {"SpreadDescriptor": "node.labels.zone"}}``:
    the nodes of the label value holding the fewest tasks of the service (nodes without
    the label are one group of their own), as SwarmKit's decision tree splits them."""
    descriptor = ((preference or {}).get("Spread") or {}).get("SpreadDescriptor") or ""
    if not descriptor.startswith(("node.labels.", "engine.labels.")):
        return nodes
    groups: dict[str | None, list[Obj]] = {}
    for node in nodes:
        value = constraints.Constraint(descriptor, True, "").value_of(node)
        groups.setdefault(value, []).append(node)
    load = {value: sum(per_service[(n["ID"], service_id)] for n in members)
            for value, members in groups.items()}
    return groups[min(load, key=lambda v: (load[v], v is None, v or ""))]


class Scheduler(Reconciler):
    name = "scheduler"
    kinds = ("task", "node")

    async def reconcile(self) -> None:
        await self.store.update(self._pass)

    def _pass(self, tx: Tx) -> None:
        tasks = tx.list("task")
        nodes = tx.list("node")
        live = [x for x in tasks if x.get("NodeID") and t.is_active(x)
                and t.rank(x["Status"]["State"]) >= t.rank(t.ASSIGNED) and not t.has_ended(x)]
        per_service: Counter[tuple[str, str]] = Counter(
            (x["NodeID"], x["ServiceID"]) for x in live)
        per_node: Counter[str] = Counter(x["NodeID"] for x in live)
        cpus: Counter[str] = Counter()
        memory: Counter[str] = Counter()
        for x in live:
            cpu, mem = _reservations(x)
            cpus[x["NodeID"]] += cpu
            memory[x["NodeID"]] += mem
        for task in tasks:
            if t.rank(task["Status"]["State"]) > t.rank(t.PENDING) or not t.is_active(task):
                continue
            candidates = [n for n in nodes if n["ID"] == task["NodeID"]] \
                if task.get("NodeID") else nodes
            chosen, why = self._choose(task, candidates, per_service, per_node, cpus, memory)
            if chosen is None:
                if (task["Status"]["State"], task["Status"].get("Err")) != (t.PENDING, why):
                    task["Status"] = {**task["Status"], "Timestamp": t.now(),
                                      "State": t.PENDING, "Message": "pending task scheduling",
                                      "Err": why}
                    tx.update("task", task)
                continue
            task["NodeID"] = chosen["ID"]
            t.set_state(task, t.ASSIGNED, "scheduler assigned task to node")
            tx.update("task", task)
            per_service[(chosen["ID"], task["ServiceID"])] += 1
            per_node[chosen["ID"]] += 1
            cpu, mem = _reservations(task)
            cpus[chosen["ID"]] += cpu
            memory[chosen["ID"]] += mem

    @staticmethod
    def _choose(task: Obj, nodes: list[Obj], per_service: Counter[tuple[str, str]],
                per_node: Counter[str], cpus: Counter[str],
                memory: Counter[str]) -> tuple[Obj | None, str]:
        placement = task["Spec"].get("Placement") or {}
        wanted = constraints.parse(placement.get("Constraints") or [])
        max_replicas = placement.get("MaxReplicas") or 0
        cpu, mem = _reservations(task)

        def fits(node: Obj) -> bool:
            resources = (node.get("Description") or {}).get("Resources") or {}
            return (cpus[node["ID"]] + cpu <= (resources.get("NanoCPUs") or 0) or not cpu) \
                and (memory[node["ID"]] + mem <= (resources.get("MemoryBytes") or 0) or not mem)
        filters: list[Filter] = [
            ("ready", "not available for new tasks",
             lambda n: n["Status"]["State"] == "ready"
             and n["Spec"].get("Availability", "active") == "active"),
            ("resources", "insufficient resources on", fits),
            ("constraints", "scheduling constraints not satisfied on",
             lambda n: all(c.match(n) for c in wanted)),
            ("max-replicas", "max replicas per node limit exceed",
             lambda n: not max_replicas
             or per_service[(n["ID"], task["ServiceID"])] < max_replicas),
        ]
        failures: Counter[str] = Counter()
        passing = []
        for node in nodes:
            for name, _, passes in filters:
                if not passes(node):
                    failures[name] += 1
                    break
            else:
                passing.append(node)
        if passing:
            for preference in placement.get("Preferences") or []:
                passing = _spread_over(passing, preference, task["ServiceID"], per_service)
            best = min(passing, key=lambda n: (per_service[(n["ID"], task["ServiceID"])],
                                               per_node[n["ID"]], n["ID"]))
            return best, ""
        if not nodes:
            return None, "no suitable node"
        reasons = []
        for name, explanation, _ in filters:
            if failures[name]:
                if name == "ready":
                    reasons.append(f"{_plural(failures[name])} {explanation}")
                elif name == "max-replicas":
                    reasons.append(explanation)
                else:
                    reasons.append(f"{explanation} {_plural(failures[name])}")
        return None, f"no suitable node ({'; '.join(reasons)})"
