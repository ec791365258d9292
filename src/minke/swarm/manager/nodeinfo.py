"""What the scheduler knows of each node (SwarmKit's ``scheduler/nodeinfo.go``): the node
object, whether it takes new tasks, its resources left after the reservations of the tasks
it holds, its task counts (overall and per service) and the host-mode ports those tasks
publish. Kept up to date from store events by ``scheduler.py``; no store access here.

A task *holds* a node from the moment it is assigned until its observed state passes
RUNNING (SwarmKit's rule): a task told to shut down still holds its reservation until it
has stopped, so a replacement never over-commits the node.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from minke.swarm.manager.resources import Capacity, Demand
from minke.swarm.store import Obj

Port = tuple[str, int]  # (protocol, published port)


@dataclass(frozen=True)
class Held:
    """One task's hold on a node."""

    service_id: str
    demand: Demand
    assigned: tuple[Obj, ...] = ()  # the named units it was given
    ports: tuple[Port, ...] = ()


_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
         "armel": "arm", "i386": "386"}


def normalize_arch(arch: str) -> str:
    """Docker's names for architectures (``uname -m`` says x86_64, images say amd64)."""
    return _ARCH.get(arch.lower(), arch.lower())


@dataclass
class NodeInfo:
    id: str
    node: Obj
    capacity: Capacity
    available: bool  # ready and availability active
    os: str = ""
    arch: str = ""
    tasks: int = 0
    per_service: Counter[str] = field(default_factory=Counter)
    ports: Counter[Port] = field(default_factory=Counter)
    holding: dict[str, Held] = field(default_factory=dict)

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        platform = (node.get("Description") or {}).get("Platform") or {}
        return cls(node["ID"], node, Capacity.of(node),
                   node["Status"]["State"] == "ready"
                   and node["Spec"].get("Availability", "active") == "active",
                   (platform.get("OS") or "").lower(),
                   normalize_arch(platform.get("Architecture") or ""))

    def renew(self, node: Obj) -> NodeInfo:
        """This node after an update of its object: capacity and state read again, the
        tasks it holds carried over."""
        fresh = NodeInfo.of(node)
        for task_id, held in self.holding.items():
            fresh.hold(task_id, held)
        return fresh

    def take(self, task_id: str, service_id: str, demand: Demand,
             ports: tuple[Port, ...]) -> Held:
        """Place a new task here (it fits): reserve its demand and count it."""
        held = Held(service_id, demand, tuple(self.capacity.take(demand)), ports)
        self._count(task_id, held)
        return held

    def hold(self, task_id: str, held: Held) -> None:
        """Count a task found assigned here (read back from the store)."""
        if task_id in self.holding:
            return
        self.capacity.hold(held.demand, list(held.assigned))
        self._count(task_id, held)

    def _count(self, task_id: str, held: Held) -> None:
        self.holding[task_id] = held
        self.tasks += 1
        self.per_service[held.service_id] += 1
        for port in held.ports:
            self.ports[port] += 1

    def release(self, task_id: str) -> None:
        held = self.holding.pop(task_id, None)
        if held is None:
            return
        self.capacity.give_back(held.demand, held.assigned)
        self.tasks -= 1
        self.per_service[held.service_id] -= 1
        if not self.per_service[held.service_id]:
            del self.per_service[held.service_id]
        for port in held.ports:
            self.ports[port] -= 1
            if not self.ports[port]:
                del self.ports[port]
