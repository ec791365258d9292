"""The scheduler's filter pipeline (SwarmKit's ``scheduler/filter.go`` and ``pipeline.go``):
whether a node may take one more task of a *group* (the tasks of a service that share what
placement depends on), and, when none may, why, in SwarmKit's words.

The filters run in SwarmKit's order, each node stopping at the first it fails: ready and
active; resources (CPU, memory, generic); placement constraints; platform; host-mode
ports; max replicas per node. ``explain`` lists the failures, the most frequent first:
"no suitable node (insufficient resources on 3 nodes; 1 node not available for new
tasks)".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from minke.swarm.manager.constraints import Constraint
from minke.swarm.manager.nodeinfo import NodeInfo, Port, normalize_arch
from minke.swarm.manager.resources import Demand

Check = Callable[[NodeInfo], bool]
Explain = Callable[[int], str]


@dataclass(frozen=True)
class Group:
    """What the placement of a task depends on; tasks with equal groups are placed as one
    batch (SwarmKit's task groups)."""

    service_id: str
    demand: Demand
    constraints: tuple[Constraint, ...] = ()
    preferences: tuple[str, ...] = ()  # spread descriptors, outermost first
    platforms: tuple[tuple[str, str], ...] = ()  # (os, arch) the image runs on
    max_replicas: int = 0
    ports: tuple[Port, ...] = ()  # host-mode published ports
    binpack: bool = False

    @functools.cached_property
    def filters(self) -> list[tuple[Check, Explain]]:
        return pipeline(self)

    @functools.cached_property
    def checks(self) -> tuple[Check, ...]:
        return tuple(check for check, _ in self.filters)


def _nodes(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


def _platform_ok(platforms: tuple[tuple[str, str], ...]) -> Check:
    def check(node: NodeInfo) -> bool:
        # A node that does not say what it is passes (SwarmKit's PlatformFilter).
        if not node.os and not node.arch:
            return True
        return any((not os or os == node.os) and (not arch or arch == node.arch)
                   for os, arch in platforms)
    return check


def pipeline(group: Group) -> list[tuple[Check, Explain]]:
    """The filters that apply to ``group``, in order (those with nothing to check left
    out, so a group without constraints costs two comparisons per node)."""
    out: list[tuple[Check, Explain]] = [
        (lambda n: n.available, lambda k: f"{_nodes(k)} not available for new tasks")]
    demand = group.demand
    if not demand.empty:
        out.append((lambda n: n.capacity.fits(demand),
                    lambda k: f"insufficient resources on {_nodes(k)}"))
    if group.constraints:
        wanted = group.constraints
        out.append((lambda n: all(c.match(n.node) for c in wanted),
                    lambda k: f"scheduling constraints not satisfied on {_nodes(k)}"))
    if group.platforms:
        out.append((_platform_ok(group.platforms),
                    lambda k: f"unsupported platform on {_nodes(k)}"))
    if group.ports:
        ports = group.ports
        out.append((lambda n: not any(p in n.ports for p in ports),
                    lambda k: f"host-mode port already in use on {_nodes(k)}"))
    if group.max_replicas:
        limit, service = group.max_replicas, group.service_id
        out.append((lambda n: n.per_service[service] < limit,
                    lambda k: "max replicas per node limit exceed"))
    return out


def passing(group: Group, nodes: list[NodeInfo]) -> list[NodeInfo]:
    return [n for n in nodes if passes(group, n)]


def passes(group: Group, node: NodeInfo) -> bool:
    for check in group.checks:
        if not check(node):
            return False
    return True


def explain(group: Group, nodes: list[NodeInfo]) -> str:
    """Why no node of ``nodes`` takes a task of ``group`` (SwarmKit's ``noSuitableNode``)."""
    if not nodes:
        return "no suitable node"
    filters = group.filters
    failures = [0] * len(filters)
    for node in nodes:
        for i, (check, _) in enumerate(filters):
            if not check(node):
                failures[i] += 1
                break
    reasons = sorted(((count, i) for i, count in enumerate(failures) if count),
                     key=lambda x: (-x[0], x[1]))
    if not reasons:  # every node passes now: the group outgrew what was left during a pass
        return f"no suitable node (insufficient resources on {_nodes(len(nodes))})"
    return "no suitable node (" + "; ".join(filters[i][1](count) for count, i in reasons) + ")"


def parse_platforms(placement: dict[str, object]) -> tuple[tuple[str, str], ...]:
    out = []
    for entry in placement.get("Platforms") or []:  # type: ignore[attr-defined]
        if isinstance(entry, dict):
            out.append(((entry.get("OS") or "").lower(),
                        normalize_arch(entry.get("Architecture") or "")))
    return tuple(out)
