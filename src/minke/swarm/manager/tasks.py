"""Tasks as SwarmKit models them (``api/types.proto``): the ordered states, a new task made
from a service, what makes a task out of date with its service ("dirty"), and the names
Docker gives tasks and their containers.

A task's ``Status.State`` only ever increases; its ``DesiredState`` is set by the
orchestrators (RUNNING, READY for a task that waits to be started, SHUTDOWN, REMOVE) and the
agent never takes a task past it. Keys starting with ``_`` are the manager's bookkeeping
(restart counts and due times) and never leave the store (``public``).
"""

from __future__ import annotations

import copy
from typing import Any

from minke.swarm.ids import new_id
from minke.swarm.store import Obj
from minke.units import rfc3339

STATES = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting",
          "running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned")
ORDER = {state: n for n, state in enumerate(STATES)}
SECOND = 1_000_000_000  # the API's durations are in nanoseconds
DEFAULT_RESTART = {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0}
NEW, PENDING, ASSIGNED, ACCEPTED, PREPARING, READY, STARTING, RUNNING = STATES[:8]
COMPLETE, SHUTDOWN, FAILED, REJECTED, REMOVE, ORPHANED = STATES[8:]


def rank(state: str) -> int:
    return ORDER.get(state, 0)


def is_active(task: Obj) -> bool:
    """The task is meant to run (or be ready to): its slot is filled by it. A job's task
    is meant to run to completion (DesiredState COMPLETE)."""
    return rank(task["DesiredState"]) <= rank(RUNNING) or task["DesiredState"] == COMPLETE


def wants_run(task: Obj) -> bool:
    """The agent should start the task's container now."""
    return task["DesiredState"] in (RUNNING, COMPLETE)


def is_job(service: Obj) -> bool:
    mode = service["Spec"]["Mode"]
    return "ReplicatedJob" in mode or "GlobalJob" in mode


def has_ended(task: Obj) -> bool:
    """The task's container is gone or never will run: any state past RUNNING."""
    return rank(task["Status"]["State"]) > rank(RUNNING)


def attachment_container(task: Obj) -> str:
    """The container of a network-attachment task (a standalone container on an attachable
    overlay network, ``minke.swarm.network.attachments``), "" for a service's task."""
    spec = (task.get("Spec") or {}).get("NetworkAttachmentSpec") or {}
    return str(spec.get("ContainerID") or "")


def now() -> str:
    import time
    return rfc3339(time.time())


def set_state(task: Obj, state: str, message: str, err: str = "") -> bool:
    """Move ``task`` to ``state`` if that is forward; False (unchanged) otherwise."""
    if rank(state) <= rank(task["Status"]["State"]) and state != task["Status"]["State"]:
        return False
    if state == task["Status"]["State"] and message == task["Status"].get("Message"):
        return False
    status = {**task["Status"], "Timestamp": now(), "State": state, "Message": message}
    status.pop("Err", None)
    if err:
        status["Err"] = err
    task["Status"] = status
    return True


def new_task(service: Obj, *, slot: int, node_id: str = "", desired: str = RUNNING) -> Obj:
    """A NEW task of ``service`` for ``slot`` (replicated) or ``node_id`` (global)."""
    spec = service["Spec"]
    task: Obj = {
        "ID": new_id(),
        "Labels": {},
        "Spec": copy.deepcopy(spec.get("TaskTemplate") or {}),
        "ServiceID": service["ID"],
        "Slot": slot,
        "Status": {"Timestamp": now(), "State": NEW, "Message": "created",
                   "PortStatus": {}},
        "DesiredState": desired,
        "NetworksAttachments": [],
        "SpecVersion": {"Index": service["Version"]["Index"]},
        # The endpoint it was made for (SwarmKit's Task.Endpoint; not in Docker's API).
        "_Endpoint": endpoint_spec(spec),
    }
    if node_id:
        task["NodeID"] = node_id
    return task


def is_dirty(task: Obj, service: Obj) -> bool:
    """The task runs another spec than its service's task template (SwarmKit's
    ``IsTaskDirty``; ``ForceUpdate`` is part of the template, so ``--force`` dirties all).
    Compared as SwarmKit compares protobufs, after its defaults: a field at its default or
    zero value equals an absent one (docker-py sends the template back filled in).
    A task made for another endpoint (a port published or removed) is dirty too: it must
    join or leave the ingress network."""
    spec = service["Spec"]
    if "_Endpoint" in task and \
            _without_zeros(task["_Endpoint"]) != _without_zeros(endpoint_spec(spec)):
        return True
    return (_without_zeros(template_with_defaults(task["Spec"], spec))
            != _without_zeros(template_with_defaults(spec.get("TaskTemplate"), spec)))


def endpoint_spec(spec: Obj) -> Obj:
    """A service's ``EndpointSpec`` with its default mode (a copy)."""
    return copy.deepcopy({"Mode": "vip", **(spec.get("EndpointSpec") or {})})


def template_with_defaults(template: Obj | None, spec: Obj) -> Obj:
    """SwarmKit's ``insertDefaults`` for a task template (a copy); ``spec`` is its service's,
    whose mode decides the restart policy's default."""
    template = copy.deepcopy(template or {})
    container = template.setdefault("ContainerSpec", {})
    container.setdefault("StopGracePeriod", 10 * SECOND)
    container.setdefault("DNSConfig", {})
    container.setdefault("Isolation", "default")
    template.setdefault("Resources", {})
    template["Resources"].setdefault("Limits", {})
    template["Resources"].setdefault("Reservations", {})
    template["RestartPolicy"] = {**restart_defaults(spec),
                                 **(template.get("RestartPolicy") or {})}
    template.setdefault("Placement", {})
    template.setdefault("ForceUpdate", 0)
    template.setdefault("Runtime", "container")
    return template


def restart_defaults(spec: Obj) -> Obj:
    """SwarmKit restarts a job's tasks on failure only: a job's task that completes is done."""
    if "ReplicatedJob" in spec.get("Mode", {}) or "GlobalJob" in spec.get("Mode", {}):
        return {**DEFAULT_RESTART, "Condition": "on-failure"}
    return DEFAULT_RESTART


def _without_zeros(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_zeros(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_without_zeros(v) for v in value]
    return value


def slot_key(task: Obj) -> tuple[int, str]:
    """Replicated tasks share a slot number; global ones are per node (slot 0)."""
    return (task.get("Slot") or 0, task.get("NodeID", "") if not task.get("Slot") else "")


def task_name(service_name: str, task: Obj) -> str:
    """``<service>.<slot>`` or, for global services, ``<service>.<node-id>`` (Docker's)."""
    return f"{service_name}.{task['Slot'] if task.get('Slot') else task.get('NodeID', '')}"


def container_name(service_name: str, task: Obj) -> str:
    return f"{task_name(service_name, task)}.{task['ID']}"


def public(obj: Obj) -> Obj:
    """The object as the API shows it: without the manager's ``_`` bookkeeping."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def expand_template(text: str, context: dict[str, Any]) -> str:
    """Go-template placeholders Docker expands in hostname, env and mounts
    (``{{.Service.Name}}``, ``{{.Task.Slot}}``, ``{{.Node.Hostname}}``,
    ``{{index .Service.Labels "k"}}`` …); anything else is left as written."""
    import re

    def field(path: str) -> Any:
        value: Any = context
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def replace(match: re.Match[str]) -> str:
        body = match.group(1).strip()
        index = re.fullmatch(r'index\s+\.([\w.]+)\s+"([^"]*)"', body)
        if index:
            mapping = field(index.group(1))
            return str(mapping.get(index.group(2), "")) if isinstance(mapping, dict) else ""
        if body.startswith(".") and (value := field(body[1:])) is not None:
            return str(value)
        return match.group(0)
    return re.sub(r"\{\{(.*?)\}\}", replace, text)
