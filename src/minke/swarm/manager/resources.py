"""Resources in swarm scheduling (SwarmKit's ``api.Resources`` and ``api/genericresource``):
what a node offers, what a task reserves, and the arithmetic the scheduler does with both.

- A node advertises ``Description.Resources``: ``NanoCPUs``, ``MemoryBytes`` and
  ``GenericResources``, each either *discrete* (``{"DiscreteResourceSpec": {"Kind": "gpu",
  "Value": 2}}``: a count) or *named* (``{"NamedResourceSpec": {"Kind": "gpu", "Value":
  "GPU-1"}}``: one entry per unit, handed out by name). dockerd's
  ``--node-generic-resource gpu=2`` / ``gpu=GPU-1`` (daemon.json ``node-generic-resources``)
  make them: ``parse_node_generic`` reads that form.
- A task reserves ``Spec.Resources.Reservations`` (``NanoCPUs``, ``MemoryBytes``, and
  discrete ``GenericResources`` only: a task asks for a count of a kind, whatever the node
  offers it as). The scheduler never lets the reservations of the tasks a node holds pass
  what the node offers; the units of a named kind a task gets are recorded on the task as
  ``AssignedGenericResources`` (Docker's field), so no two tasks get the same GPU.
- ``check_task_resources`` refuses malformed reservations and limits in SwarmKit's words
  (``validateResources``) before anything is stored; ``check_known_kinds`` refuses a kind
  no node of the cluster advertises (a typo would otherwise pend forever). A reservation
  larger than every node is *not* refused: as in Docker, the task stays pending with
  "insufficient resources", since a bigger node may join.

Knows nothing of filters or strategies (``scheduler.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minke import errors
from minke.swarm.manager.controlapi import rpc_error
from minke.swarm.store import Obj, ReadTx

MIN_NANO_CPUS = 1_000_000  # SwarmKit's validateResources: 0.001 CPU
MIN_MEMORY = 4 * 1024 * 1024  # and 4 MiB
_KIND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _invalid(message: str) -> errors.MinkeError:
    """SwarmKit's InvalidArgument, as dockerd words it (a 400)."""
    return rpc_error("InvalidArgument", message)


@dataclass(frozen=True)
class Demand:
    """What one task reserves: CPU in nano-CPUs, memory in bytes, and a count per generic
    kind (``generic``, sorted, so equal demands compare equal)."""

    cpu: int = 0
    memory: int = 0
    generic: tuple[tuple[str, int], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.cpu or self.memory or self.generic)


NO_DEMAND = Demand()


def task_demand(spec: Obj) -> Demand:
    """The reservations of a task spec (``TaskTemplate``), already validated."""
    reserved = (spec.get("Resources") or {}).get("Reservations") or {}
    generic: dict[str, int] = {}
    for entry in reserved.get("GenericResources") or []:
        discrete = entry.get("DiscreteResourceSpec") or {}
        if discrete.get("Kind"):
            generic[discrete["Kind"]] = generic.get(discrete["Kind"], 0) + int(
                discrete.get("Value") or 0)
    if not (reserved.get("NanoCPUs") or reserved.get("MemoryBytes") or generic):
        return NO_DEMAND
    return Demand(int(reserved.get("NanoCPUs") or 0), int(reserved.get("MemoryBytes") or 0),
                  tuple(sorted(generic.items())))


@dataclass
class Capacity:
    """What a node offers and what is left of it after the reservations placed on it.

    ``named`` holds the free units of each named kind; ``taken`` the units given to each
    task, so a task that ends returns exactly those."""

    cpu: int = 0
    memory: int = 0
    total_cpu: int = 0
    total_memory: int = 0
    discrete: dict[str, int] = field(default_factory=dict)
    named: dict[str, list[str]] = field(default_factory=dict)
    total_generic: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, node: Obj) -> Capacity:
        resources = (node.get("Description") or {}).get("Resources") or {}
        cpu, memory = int(resources.get("NanoCPUs") or 0), int(resources.get("MemoryBytes") or 0)
        discrete: dict[str, int] = {}
        named: dict[str, list[str]] = {}
        for entry in resources.get("GenericResources") or []:
            if entry.get("DiscreteResourceSpec"):
                spec = entry["DiscreteResourceSpec"]
                discrete[spec["Kind"]] = discrete.get(spec["Kind"], 0) + int(spec["Value"])
            elif entry.get("NamedResourceSpec"):
                spec = entry["NamedResourceSpec"]
                named.setdefault(spec["Kind"], []).append(str(spec["Value"]))
        for units in named.values():
            units.sort()
        totals = {**discrete, **{k: len(v) for k, v in named.items()}}
        return cls(cpu, memory, cpu, memory, discrete, named, totals)

    def fits(self, demand: Demand) -> bool:
        """Whether ``demand`` fits in what is left. A node that does not say how much CPU
        or memory it has (0) takes no reservation of it."""
        if demand.cpu > self.cpu or demand.memory > self.memory:
            return False
        for kind, count in demand.generic:
            if count > self.discrete.get(kind, 0) + len(self.named.get(kind, ())):
                return False
        return True

    def take(self, demand: Demand) -> list[Obj]:
        """Reserve ``demand`` (which fits); returns the named units handed out, as
        ``AssignedGenericResources`` entries (discrete ones as their counts)."""
        self.cpu -= demand.cpu
        self.memory -= demand.memory
        assigned: list[Obj] = []
        for kind, count in demand.generic:
            units = self.named.get(kind)
            if units:
                given, self.named[kind] = units[:count], units[count:]
                assigned += [{"NamedResourceSpec": {"Kind": kind, "Value": u}} for u in given]
            else:
                self.discrete[kind] -= count
                assigned.append({"DiscreteResourceSpec": {"Kind": kind, "Value": count}})
        return assigned

    def hold(self, demand: Demand, assigned: list[Obj]) -> None:
        """Account a reservation made earlier (a task read back from the store): the named
        units it was given (``assigned``) are no longer free."""
        if not demand.generic or not assigned:
            self.take(demand)
            return
        self.cpu -= demand.cpu
        self.memory -= demand.memory
        for entry in assigned:
            if entry.get("NamedResourceSpec"):
                spec = entry["NamedResourceSpec"]
                units = self.named.get(spec["Kind"], [])
                if spec["Value"] in units:
                    units.remove(spec["Value"])
            elif entry.get("DiscreteResourceSpec"):
                spec = entry["DiscreteResourceSpec"]
                self.discrete[spec["Kind"]] = self.discrete.get(spec["Kind"], 0) - spec["Value"]

    def give_back(self, demand: Demand, assigned: Iterable[Obj]) -> None:
        """Return what ``take`` reserved (``assigned``: what it handed out)."""
        self.cpu += demand.cpu
        self.memory += demand.memory
        for entry in assigned:
            if entry.get("NamedResourceSpec"):
                spec = entry["NamedResourceSpec"]
                if spec["Kind"] in self.named or spec["Kind"] in self.total_generic:
                    self.named.setdefault(spec["Kind"], []).append(spec["Value"])
                    self.named[spec["Kind"]].sort()
            elif entry.get("DiscreteResourceSpec"):
                spec = entry["DiscreteResourceSpec"]
                self.discrete[spec["Kind"]] = self.discrete.get(spec["Kind"], 0) + spec["Value"]

    def free_share(self) -> float:
        """How much of the node is free, 0 (full) to 2 (idle), over CPU and memory: the key
        binpack fills nodes by (the least free first)."""
        share = 0.0
        if self.total_cpu:
            share += self.cpu / self.total_cpu
        if self.total_memory:
            share += self.memory / self.total_memory
        return share


# -- validation of what users send ---------------------------------------------------


def _integer(value: Any, where: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"invalid {where}: {value!r} (an integer is expected)")
    return value


def _check_resources(given: Any, where: str, *, reservation: bool) -> None:
    if given is None:
        return
    if not isinstance(given, dict):
        raise _invalid(f"invalid {where}: a JSON object is expected")
    cpu = _integer(given.get("NanoCPUs"), f"{where}.NanoCPUs")
    memory = _integer(given.get("MemoryBytes"), f"{where}.MemoryBytes")
    # SwarmKit's validateResources, in its words (a negative value is "less than" too).
    if cpu and cpu < MIN_NANO_CPUS:
        raise _invalid(f"invalid cpu value {cpu / 1e9:g}: Must be at least "
                       f"{MIN_NANO_CPUS / 1e9:g}")
    if memory and memory < MIN_MEMORY:
        raise _invalid(f"invalid memory value {memory}: Must be at least 4MiB")
    generic = given.get("GenericResources")
    if generic is None:
        return
    if not reservation:
        raise _invalid(f"invalid {where}.GenericResources: generic resources can only be "
                       "reserved, not limited")
    if not isinstance(generic, list):
        raise _invalid(f"invalid {where}.GenericResources: a JSON array is expected")
    for entry in generic:
        if not isinstance(entry, dict) or len([k for k in entry if entry[k]]) != 1:
            raise _invalid(f"invalid {where}.GenericResources entry {entry!r}: one of "
                           "DiscreteResourceSpec or NamedResourceSpec is expected")
        if entry.get("NamedResourceSpec"):
            kind = (entry["NamedResourceSpec"] or {}).get("Kind", "")
            raise _invalid(f"invalid argument for resource {kind}")  # SwarmKit's ValidateTask
        discrete = entry.get("DiscreteResourceSpec")
        if not isinstance(discrete, dict):
            raise _invalid(f"invalid {where}.GenericResources entry {entry!r}")
        kind = discrete.get("Kind")
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise _invalid(f"invalid generic resource kind {kind!r} in {where}")
        value = _integer(discrete.get("Value"), f"{where}.GenericResources[{kind}].Value")
        if value < 1:
            raise _invalid(f"invalid generic resource {kind}={value}: Must be at least 1")


def check_task_resources(template: Obj) -> None:
    """Refuse malformed ``TaskTemplate.Resources`` (400, naming the field)."""
    resources = template.get("Resources")
    if resources is None:
        return
    if not isinstance(resources, dict):
        raise _invalid("invalid TaskTemplate.Resources: a JSON object is expected")
    _check_resources(resources.get("Limits"), "Resources.Limits", reservation=False)
    _check_resources(resources.get("Reservations"), "Resources.Reservations",
                     reservation=True)


def check_known_kinds(tx: ReadTx, template: Obj) -> None:
    """Refuse a generic resource no node of the cluster advertises (whatever its state, so
    a GPU node that is down still counts)."""
    wanted = {kind for kind, _ in task_demand(template).generic}
    if not wanted:
        return
    known = {kind for node in tx.list("node") for kind in Capacity.of(node).total_generic}
    unknown = sorted(wanted - known)
    if unknown:
        raise _invalid(f"unknown generic resource {unknown[0]!r}: no node of the swarm "
                       "advertises it (dockerd --node-generic-resource)")


def parse_node_generic(items: Iterable[str]) -> list[Obj]:
    """dockerd's ``--node-generic-resource`` values (``gpu=2``: a count; ``gpu=GPU-1``,
    repeated: named units) as ``GenericResources``; ``errors.InvalidParameter`` naming a
    malformed one."""
    discrete: dict[str, int] = {}
    named: dict[str, list[str]] = {}
    for item in items:
        kind, sep, value = item.partition("=")
        kind, value = kind.strip(), value.strip()
        if not sep or not _KIND.match(kind) or not value:
            raise errors.InvalidParameter(f"invalid node generic resource {item!r}: "
                                          "KIND=COUNT or KIND=NAME is expected")
        if re.fullmatch(r"-?\d+", value):
            if int(value) < 1:
                raise errors.InvalidParameter(
                    f"invalid node generic resource {item!r}: the count must be at least 1")
            discrete[kind] = discrete.get(kind, 0) + int(value)
        else:
            named.setdefault(kind, []).append(value)
    mixed = sorted(set(discrete) & set(named))
    if mixed:
        raise errors.InvalidParameter(f"invalid node generic resource {mixed[0]!r}: a kind is "
                                      "either counted or named, not both")
    return ([{"DiscreteResourceSpec": {"Kind": k, "Value": v}} for k, v in discrete.items()]
            + [{"NamedResourceSpec": {"Kind": k, "Value": v}}
               for k, units in named.items() for v in units])


def task_env(task: Obj) -> list[str]:
    """What a task's container learns of the generic resources it was given, as SwarmKit's
    executor tells it: ``DOCKER_RESOURCE_GPU=GPU-1,GPU-2`` (named units) or
    ``DOCKER_RESOURCE_GPU=2`` (a count)."""
    given: dict[str, list[str]] = {}
    for entry in task.get("AssignedGenericResources") or []:
        spec = entry.get("NamedResourceSpec") or entry.get("DiscreteResourceSpec") or {}
        if spec.get("Kind"):
            given.setdefault(spec["Kind"], []).append(str(spec.get("Value", "")))
    return [f"DOCKER_RESOURCE_{kind.upper()}={','.join(values)}"
            for kind, values in sorted(given.items())]
