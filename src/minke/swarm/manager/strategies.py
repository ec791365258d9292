"""The scheduler's strategies: which of the nodes that pass a group's filters gets each of
its tasks. Each reserves on the node it picks as it goes (``NodeInfo.take``) and returns
the decisions; ``scheduler.py`` writes them.

- ``spread`` (the default, SwarmKit's): the fewest tasks of the service, then the fewest
  tasks overall, from a heap of the passing nodes; placement preferences narrow to the
  label value holding the fewest of the service's tasks first.
- ``binpack`` (minke's): best fit, the node with the least free reserved resources the task
  still passes on, so nodes fill before new ones open.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass

from minke.swarm.manager import constraints, filters
from minke.swarm.manager.controlapi import rpc_error
from minke.swarm.manager.filters import Group
from minke.swarm.manager.nodeinfo import Held, NodeInfo
from minke.swarm.store import Obj

LABEL = "com.minke.scheduler.strategy"  # a service label: "spread" (default) or "binpack"
STRATEGIES = ("spread", "binpack")


def check_label(spec: Obj) -> None:
    """Refuse a service spec whose strategy label names no strategy (400)."""
    value = (spec.get("Labels") or {}).get(LABEL)
    if value is not None and value not in STRATEGIES:
        raise rpc_error("InvalidArgument", f"invalid label {LABEL}={value!r}: the scheduling "
                        f"strategy is one of {', '.join(STRATEGIES)}")


def of_service(service: Obj) -> str:
    return (service["Spec"].get("Labels") or {}).get(LABEL) or "spread"


@dataclass
class Decision:
    task_id: str
    node_id: str
    held: Held


def spread(group: Group, task_ids: list[str], nodes: list[NodeInfo]) -> list[Decision]:
    """Spread ``task_ids`` (all of ``group``), reserving as it goes: the nodes are
    filtered once and kept in a heap by (tasks of the service, tasks); a node taken
    from the heap again is checked again (what is left on it shrinks as the group is
    placed) and dropped for the rest of the group if it no longer passes: within a
    group nothing grows back."""
    candidates = filters.passing(group, nodes)
    if not candidates:
        return []
    if group.preferences:
        return _spread_preferring(group, task_ids, candidates)
    service = group.service_id
    heap = [(n.per_service[service], n.tasks, n.id, n) for n in candidates]
    heapq.heapify(heap)
    out: list[Decision] = []
    taken: set[str] = set()
    for task_id in task_ids:
        while heap and heap[0][2] in taken and not filters.passes(group, heap[0][3]):
            heapq.heappop(heap)
        if not heap:
            break
        node = heap[0][3]
        out.append(Decision(task_id, node.id,
                            node.take(task_id, service, group.demand, group.ports)))
        taken.add(node.id)
        heapq.heapreplace(heap, (node.per_service[service], node.tasks, node.id, node))
    return out


def _spread_preferring(group: Group, task_ids: list[str], candidates: list[NodeInfo]
                       ) -> list[Decision]:
    """Spread with placement preferences: per task, narrow to the label value (then the
    next preference's) with the fewest tasks of the service, as SwarmKit's decision
    tree splits the nodes; O(nodes) a task, which only such services pay."""
    service = group.service_id
    out = []
    for task_id in task_ids:
        nodes = [n for n in candidates if filters.passes(group, n)]
        for descriptor in group.preferences:
            nodes = _narrow(nodes, descriptor, service)
        if not nodes:
            break
        node = min(nodes, key=lambda n: (n.per_service[service], n.tasks, n.id))
        out.append(Decision(task_id, node.id,
                            node.take(task_id, service, group.demand, group.ports)))
    return out


def binpack(group: Group, task_ids: list[str], by_share: list[tuple[float, str, NodeInfo]]
            ) -> list[Decision]:
    """Binpack ``task_ids`` (all of ``group``): each on the node with the least free share
    it passes on (best fit), scanning ``by_share`` (the available nodes by free share, kept
    in order across the pass) from the fullest."""
    out = []
    start = 0
    for task_id in task_ids:
        for i in range(start, len(by_share)):
            node = by_share[i][2]
            if filters.passes(group, node):
                break
        else:
            break  # fits nowhere; nor will the rest of the group
        out.append(Decision(task_id, node.id, node.take(
            task_id, group.service_id, group.demand, group.ports)))
        del by_share[i]
        entry = (node.capacity.free_share(), node.id, node)
        j = bisect.bisect_left(by_share, entry)
        by_share.insert(j, entry)
        # The nodes before i did not pass and only shrank since: the next task of the
        # group starts after them (or at the node just taken, if it moved before them).
        start = min(i, j)
    return out


def _narrow(nodes: list[NodeInfo], descriptor: str, service_id: str) -> list[NodeInfo]:
    """The nodes of the ``descriptor`` label value holding the fewest tasks of the service
    (nodes without the label are a group of their own, tried last on a tie)."""
    groups: dict[str | None, list[NodeInfo]] = {}
    probe = constraints.Constraint(descriptor, True, "")
    for node in nodes:
        groups.setdefault(probe.value_of(node.node), []).append(node)
    if not groups:
        return nodes
    load = {value: sum(n.per_service[service_id] for n in members)
            for value, members in groups.items()}
    return groups[min(load, key=lambda v: (load[v], v is None, v or ""))]
