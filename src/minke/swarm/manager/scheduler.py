"""The scheduler (SwarmKit's ``manager/scheduler``): gives each unassigned task a node.

It keeps what it knows of nodes, services and tasks in memory (``NodeInfo``), loaded once
from a snapshot and then kept current from the store's watch (SwarmKit's
``ViewAndWatch``), so a pass costs what changed, not the size of the cluster. A pass:

1. applies the events that arrived (a task assigned, ended or deleted, a node changed);
2. takes the pending tasks, at most ``MAX_BATCH`` decisions per pass, grouped by what
   their placement depends on (``filters.Group``), largest reservations first;
3. places each group's tasks with its strategy, every node checked by the filter pipeline
   (``filters.py``), no re-sort per task:
   - *spread* (the default): the fewest tasks of the service, then the fewest tasks
     overall, from a heap of the nodes that passed (filtered once per group); placement
     preferences (``spread=node.labels.zone``) first narrow the choice to the label value
     holding the fewest of the service's tasks;
   - *binpack* (the service label ``com.minke.scheduler.strategy=binpack``): the node with
     the least free reserved resources (CPU and memory share) the task still passes on
     (best fit), scanning the nodes kept in that order across the pass, so nodes fill
     before new ones open;
4. writes every decision in one transaction, reading each task again inside it, so a task
   that changed meanwhile (removed, already placed) is left alone and its reservation
   returned.

A task no node takes stays PENDING with SwarmKit's explanation ("no suitable node
(insufficient resources on 3 nodes)") and is tried again in every pass, so it is placed as
soon as something frees up. Global tasks come with their node and are only checked against
it. Priorities and preemption are not done (SwarmKit has neither).

Called as a plain ``reconcile()`` without ``start()`` (tests), each pass reads a full
snapshot instead of events.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from minke.swarm.manager import constraints, filters, strategies
from minke.swarm.manager import tasks as t
from minke.swarm.manager.filters import Group
from minke.swarm.manager.nodeinfo import Held, NodeInfo, Port
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.manager.resources import task_demand
from minke.swarm.manager.strategies import Decision
from minke.swarm.store import DELETE, Compacted, Event, Obj, ReadTx, Store, Tx

STRATEGY_LABEL = strategies.LABEL
MAX_BATCH = 128  # decisions per pass: bounds one transaction and one pass's latency
PENDING_MESSAGE = "pending task scheduling"
ASSIGNED_MESSAGE = "scheduler assigned task to node"


@dataclass
class Pending:
    key: str  # the group key
    node_id: str  # a global task's node, "" for the scheduler to pick
    err: str  # the explanation the store holds now


@dataclass(frozen=True)
class PassStats:
    """One pass, for the simulator and logs: decisions made, tasks left pending, seconds
    spent deciding and committing."""

    decided: int
    pending: int
    decide: float
    commit: float


def host_ports(service: Obj) -> tuple[Port, ...]:
    return tuple(sorted((p["Protocol"], p["PublishedPort"])
                        for p in (service.get("Endpoint") or {}).get("Ports") or []
                        if p.get("PublishMode") == "host" and p.get("PublishedPort")))


def _holds(task: Obj) -> bool:
    """The task counts on its node: assigned and not yet ended."""
    state = t.rank(task["Status"]["State"])
    return bool(task.get("NodeID")) and t.rank(t.ASSIGNED) <= state <= t.rank(t.RUNNING)


def _waits(task: Obj) -> bool:
    """The task wants a node: not yet assigned and meant to run."""
    return t.rank(task["Status"]["State"]) <= t.rank(t.PENDING) and t.is_active(task)


class Scheduler(Reconciler):
    name = "scheduler"
    kinds = ("task", "node", "service")

    def __init__(self, store: Store, *, on_pass: Callable[[PassStats], None] | None = None
                 ) -> None:
        super().__init__(store)
        self.on_pass = on_pass
        self._events: list[Event] = []
        self._synced = False
        self._index = 0  # the store index our state reflects
        self._nodes: dict[str, NodeInfo] = {}
        self._services: dict[str, tuple[str, tuple[Port, ...]]] = {}  # strategy, host ports
        self._pending: dict[str, Pending] = {}
        # group key → its pending tasks (an ordered set: the order they came in), the
        # placement part of their spec, and the Group made of it
        self._queues: dict[str, dict[str, None]] = {}
        self._groups: dict[str, Obj] = {}
        self._group_cache: dict[str, Group] = {}
        self._where: dict[str, str] = {}  # task id → the node it holds
        self._seen: dict[str, int] = {}  # task id → the newest Version.Index applied

    # -- keeping the picture current ------------------------------------------------------

    async def _watch(self, since: int) -> None:
        while True:
            try:
                async for event in self.store.watch(self.kinds, since=since):
                    self._events.append(event)
                    since = event.index
                    self._wake.set()
                return
            except Compacted:  # fell behind the event log: read a fresh snapshot
                self._synced = False
                since = await self.store.view(lambda tx: tx.index)
                self._wake.set()

    def _load(self, tx: ReadTx) -> None:
        self._nodes = {n["ID"]: NodeInfo.of(n) for n in tx.list("node")}
        self._services = {s["ID"]: (strategies.of_service(s), host_ports(s))
                          for s in tx.list("service")}
        self._pending, self._where, self._seen = {}, {}, {}
        self._queues, self._groups, self._group_cache = {}, {}, {}
        for task in tx.list("task"):
            self._take_in(task)
        self._index = tx.index
        self._synced = True

    def _apply(self, event: Event) -> None:
        if event.index <= self._index:
            return  # already in the snapshot we loaded
        if event.kind == "node":
            if event.action == DELETE:
                self._nodes.pop(event.id, None)
            else:
                known = self._nodes.get(event.id)
                self._nodes[event.id] = known.renew(event.object) if known else \
                    NodeInfo.of(event.object)
        elif event.kind == "service":
            if event.action == DELETE:
                self._services.pop(event.id, None)
            else:
                self._services[event.id] = (strategies.of_service(event.object),
                                            host_ports(event.object))
            # the strategy and host ports of its groups come from the service
            self._group_cache = {k: g for k, g in self._group_cache.items()
                                 if g.service_id != event.id}
        elif event.action == DELETE:
            self._forget(event.id)
        else:
            self._take_in(event.object)

    def _forget(self, task_id: str) -> None:
        self._dequeue(task_id)
        self._seen.pop(task_id, None)
        self._release(task_id)

    def _enqueue(self, task_id: str, entry: Pending) -> None:
        old = self._pending.get(task_id)
        if old is not None and old.key != entry.key:
            self._dequeue(task_id)
        self._pending[task_id] = entry
        self._queues.setdefault(entry.key, {})[task_id] = None

    def _dequeue(self, task_id: str) -> None:
        entry = self._pending.pop(task_id, None)
        if entry is None:
            return
        queue = self._queues.get(entry.key, {})
        queue.pop(task_id, None)
        if not queue:
            self._queues.pop(entry.key, None)
            self._groups.pop(entry.key, None)
            self._group_cache.pop(entry.key, None)

    def _take_in(self, task: Obj) -> None:
        """Take in one task's newest version (SwarmKit's ``updateTask``)."""
        version = task["Version"]["Index"]
        if version < self._seen.get(task["ID"], 0):
            return  # our own write already told us more
        self._seen[task["ID"]] = version
        task_id = task["ID"]
        if _holds(task):
            self._dequeue(task_id)
            if self._where.get(task_id) == task["NodeID"]:
                return
            self._release(task_id)
            node = self._nodes.get(task["NodeID"])
            if node is not None:
                service = self._services.get(task["ServiceID"])
                node.hold(task_id, Held(task["ServiceID"], task_demand(task["Spec"]),
                                        tuple(task.get("AssignedGenericResources") or ()),
                                        service[1] if service else ()))
                self._where[task_id] = task["NodeID"]
            return
        self._release(task_id)
        if _waits(task):
            self._enqueue(task_id, Pending(self._group_key(task), task.get("NodeID") or "",
                                           task["Status"].get("Err") or ""))
        else:
            self._dequeue(task_id)
            if t.has_ended(task):
                self._seen.pop(task_id, None)  # nothing more to learn from it

    def _release(self, task_id: str) -> None:
        node_id = self._where.pop(task_id, None)
        if node_id in self._nodes:
            self._nodes[node_id].release(task_id)

    def _group_key(self, task: Obj) -> str:
        spec = task["Spec"]
        part = {"Placement": spec.get("Placement") or {},
                "Reservations": (spec.get("Resources") or {}).get("Reservations") or {}}
        key = task["ServiceID"] + json.dumps(part, sort_keys=True, separators=(",", ":"))
        if key not in self._groups:
            self._groups[key] = {"ServiceID": task["ServiceID"], **part}
            # Made when its first task arrives (not in a pass): constraints parsed once.
            self._group_cache[key] = self._make_group(key)
        return key

    # -- a pass ---------------------------------------------------------------------------

    async def reconcile(self) -> None:
        watching = self._watch_task is not None
        while True:
            if not watching or not self._synced:
                self._events.clear()
                await self.store.view(self._load)
            events, self._events = self._events, []
            for event in events:
                self._apply(event)
            if not self._pending:
                return
            started = time.perf_counter()
            decisions, explained = self._decide()
            decided = time.perf_counter()
            if decisions or explained:
                try:
                    lost = await self.store.update(
                        functools.partial(self._commit, decisions=decisions,
                                          explained=explained))
                except BaseException:
                    self._synced = False  # our picture took decisions the store did not
                    raise
                for decision in lost:
                    self._unplace(decision)
            if self.on_pass is not None:
                self.on_pass(PassStats(len(decisions), len(self._pending), decided - started,
                                       time.perf_counter() - decided))
            if len(decisions) + len(explained) < MAX_BATCH:
                return
            if watching:  # more to do: the next pass, after the events this one caused
                self.kick()
                return

    def _decide(self) -> tuple[list[Decision], dict[str, str]]:
        """Place pending tasks in memory (reserving on the chosen nodes) until
        ``MAX_BATCH`` writes are due; tasks left over wait for the next pass."""
        groups = {key: self._group(key) for key in self._queues}
        nodes = list(self._nodes.values())
        cpu = max((n.capacity.total_cpu for n in nodes), default=0) or 1
        memory = max((n.capacity.total_memory for n in nodes), default=0) or 1
        # The largest reservations first: what binpack needs to pack well (first fit
        # decreasing), and harmless to spread.
        order = sorted(groups, key=lambda k: -(groups[k].demand.cpu / cpu
                                               + groups[k].demand.memory / memory))
        # Binpack's node order, made at its first group and kept by its own placements;
        # spread groups placed in between can leave it slightly stale, which costs packing
        # quality within that pass only (every pick is still checked by the filters).
        by_share: list[tuple[float, str, NodeInfo]] | None = None
        decisions: list[Decision] = []
        explained: dict[str, str] = {}
        for key in order:
            room = MAX_BATCH - len(decisions) - len(explained)
            if room <= 0:
                break
            group = groups[key]
            looked: set[str] = set()
            free: list[str] = []
            placed: list[Decision] = []
            for task_id in self._queues[key]:
                if len(looked) >= room:
                    break
                looked.add(task_id)
                node_id = self._pending[task_id].node_id
                if not node_id:
                    free.append(task_id)
                    continue
                pinned = self._nodes.get(node_id)
                if pinned is not None and filters.passes(group, pinned):
                    placed.append(Decision(task_id, node_id, pinned.take(
                        task_id, group.service_id, group.demand, group.ports)))
            if free and group.binpack:
                if by_share is None:
                    by_share = sorted((n.capacity.free_share(), n.id, n) for n in nodes
                                      if n.available)
                placed += strategies.binpack(group, free, by_share)
            elif free:
                placed += strategies.spread(group, free, nodes)
            free_placed = sum(1 for d in placed if not self._pending[d.task_id].node_id)
            for decision in placed:
                self._dequeue(decision.task_id)
            decisions += placed
            # What is left of the group, within the writes left: pinned tasks looked at
            # and not placed; and, once the strategy found no node for a task, every free
            # task of the group (the same reason for all), so that none stays without its
            # explanation while others wait.
            exhausted = free_placed < len(free)
            why_free = ""
            for task_id in list(self._queues.get(key, ())):
                if len(decisions) + len(explained) >= MAX_BATCH:
                    break
                entry = self._pending[task_id]
                if entry.node_id:
                    if task_id not in looked:
                        continue
                    pinned = self._nodes.get(entry.node_id)
                    why = filters.explain(group, [pinned] if pinned else [])
                elif exhausted:
                    why = why_free = why_free or filters.explain(group, nodes)
                else:
                    continue
                if why != entry.err:
                    explained[task_id] = why
        return decisions, explained

    def _group(self, key: str) -> Group:
        cached = self._group_cache.get(key)
        if cached is None:
            cached = self._group_cache[key] = self._make_group(key)
        return cached

    def _make_group(self, key: str) -> Group:
        part = self._groups[key]
        placement = part["Placement"]
        strategy, ports = self._services.get(part["ServiceID"], ("spread", ()))
        preferences = (((p or {}).get("Spread") or {}).get("SpreadDescriptor") or ""
                       for p in placement.get("Preferences") or [])
        return Group(part["ServiceID"],
                     task_demand({"Resources": {"Reservations": part["Reservations"]}}),
                     tuple(constraints.parse(placement.get("Constraints") or [])),
                     tuple(p for p in preferences
                           if p.startswith(("node.labels.", "engine.labels."))),
                     filters.parse_platforms(placement), placement.get("MaxReplicas") or 0,
                     ports, strategy == "binpack")

    def _commit(self, tx: Tx, *, decisions: list[Decision], explained: dict[str, str]
                ) -> list[Decision]:
        """Write the decisions; return those the store no longer allows."""
        lost = []
        for decision in decisions:
            task = tx.get("task", decision.task_id)
            if task is None or not _waits(task) or (task.get("NodeID") or decision.node_id) \
                    != decision.node_id:
                lost.append(decision)
                continue
            task["NodeID"] = decision.node_id
            if decision.held.assigned:
                task["AssignedGenericResources"] = list(decision.held.assigned)
            t.set_state(task, t.ASSIGNED, ASSIGNED_MESSAGE)
            stored = tx.update("task", task)
            self._seen[task["ID"]] = stored["Version"]["Index"]
            self._where[task["ID"]] = decision.node_id
        for task_id, why in explained.items():
            task = tx.get("task", task_id)
            if task is None or not _waits(task):
                continue
            task["Status"] = {**task["Status"], "Timestamp": t.now(), "State": t.PENDING,
                              "Message": PENDING_MESSAGE, "Err": why}
            stored = tx.update("task", task)
            self._seen[task_id] = stored["Version"]["Index"]
            if task_id in self._pending:
                self._pending[task_id].err = why
        return lost

    def _unplace(self, decision: Decision) -> None:
        node = self._nodes.get(decision.node_id)
        if node is not None:
            node.release(decision.task_id)
        if self._where.get(decision.task_id) == decision.node_id:
            del self._where[decision.task_id]


__all__ = ["ASSIGNED_MESSAGE", "MAX_BATCH", "STRATEGY_LABEL", "PassStats", "Scheduler"]
