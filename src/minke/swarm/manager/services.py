"""The control API for services and tasks (SwarmKit's ``controlapi/service.go`` and
``task.go`` behind dockerd's ``daemon/cluster/services.go``): create, inspect, list with
filters and status, update at a version (and rollback), remove; task listings. Specs are
checked with Docker's status codes and words before anything is written, so bad input
leaves the store as it was. The reconcilers do the rest from what is stored here.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from minke import errors
from minke.engine.containers.naming import random_name
from minke.swarm.ids import new_id
from minke.swarm.lb import policy as lb_policy
from minke.swarm.manager import constraints, endpoints, resources, strategies
from minke.swarm.manager import tasks as t
from minke.swarm.manager.controlapi import find_node, out_of_sequence, rpc_error
from minke.swarm.manager.secrets import check_references
from minke.swarm.store import NameConflict, Obj, ReadTx, Store, Tx

Filters = dict[str, list[str]]
SECOND = t.SECOND

SERVICE_FILTERS = ("id", "name", "label", "mode")
# ``_up-to-date``: the docker CLI's progress view asks for the tasks running the current spec.
TASK_FILTERS = ("id", "name", "label", "service", "node", "desired-state", "_up-to-date")
MODES = ("Replicated", "Global", "ReplicatedJob", "GlobalJob")
RESTART_CONDITIONS = ("none", "on-failure", "any")
_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")

DEFAULT_UPDATE = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SECOND,
                  "MaxFailureRatio": 0, "Order": "stop-first"}


def invalid(desc: str) -> errors.MinkeError:
    return rpc_error("InvalidArgument", desc)


def _obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.InvalidParameter(f"{what}: an object is expected")
    return value


def validate_spec(spec: Any) -> Obj:
    """A service spec as given, checked and with its mode made explicit (SwarmKit's
    ``validateServiceSpec``); a copy."""
    spec = copy.deepcopy(_obj(spec, "ServiceSpec"))
    name = spec.get("Name") or ""
    if not isinstance(name, str):
        raise errors.InvalidParameter("Name: a string is expected")
    if name and (len(name) > 63 or not _DNS_NAME.match(name)):
        raise invalid("name must be valid as a DNS name component")
    # Go decodes JSON keys case-insensitively, and docker-py sends {"replicated": …}.
    mode = {next((m for m in MODES if m.lower() == k.lower()), k): v
            for k, v in _obj(spec.get("Mode"), "Mode").items()}
    given = [m for m in MODES if mode.get(m) is not None]
    if len(given) > 1:
        raise errors.InvalidParameter("cannot specify more than one service mode: "
                                      + ", ".join(given))
    if not given:
        mode = {"Replicated": {"Replicas": 1}}
    if "ReplicatedJob" in mode:
        mode["ReplicatedJob"] = replicated_job(mode["ReplicatedJob"])
    if "GlobalJob" in mode:
        _obj(mode["GlobalJob"], "Mode.GlobalJob")
        mode["GlobalJob"] = {}
    if "Replicated" in mode:
        replicated = {k.capitalize(): v for k, v in
                      _obj(mode["Replicated"], "Mode.Replicated").items()}
        replicas = replicated.get("Replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid("Replicas: a number of replicas >= 0 is expected")
        mode["Replicated"] = {"Replicas": replicas}
    spec["Mode"] = mode
    template = _obj(spec.get("TaskTemplate"), "TaskTemplate")
    spec["TaskTemplate"] = template
    if template.get("PluginSpec") or template.get("NetworkAttachmentSpec"):
        raise errors.NotSupported("only container tasks are supported by minke")
    container = _obj(template.get("ContainerSpec"), "TaskTemplate.ContainerSpec")
    if not container.get("Image") or not isinstance(container["Image"], str):
        raise invalid("ContainerSpec: image reference must be provided")
    for key in ("Command", "Args", "Env"):
        value = container.get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(v, str) for v in value)):
            raise errors.InvalidParameter(f"ContainerSpec.{key}: a list of strings is expected")
    for i, mount in enumerate(container.get("Mounts") or []):
        kind = _obj(mount, f"ContainerSpec.Mounts[{i}]").get("Type", "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            raise invalid(f"invalid mount type: {kind}")
        if not mount.get("Target"):
            raise invalid("invalid mount target, must not be empty")
        if kind == "bind" and not str(mount.get("Source", "")).startswith("/"):
            raise invalid(f"invalid bind mount source, must be an absolute path: "
                          f"{mount.get('Source', '')}")
    resources.check_task_resources(template)
    restart = _obj(template.get("RestartPolicy"), "RestartPolicy")
    if restart.get("Condition", "any") not in RESTART_CONDITIONS:
        raise invalid(f"invalid RestartCondition: {restart['Condition']!r}")
    for key in ("Delay", "Window", "MaxAttempts"):
        if restart.get(key, 0) is not None and not isinstance(restart.get(key, 0), int) \
                or (restart.get(key) or 0) < 0:
            raise invalid(f"TaskSpec: RestartPolicy.{key} can not be negative")
    placement = _obj(template.get("Placement"), "Placement")
    try:
        constraints.parse(placement.get("Constraints") or [])
    except constraints.ConstraintError as exc:
        raise invalid(str(exc)) from None
    if placement.get("MaxReplicas") and ("Global" in mode or "GlobalJob" in mode):
        raise invalid("max-replicas can only be used with replicated mode")
    for which in ("UpdateConfig", "RollbackConfig"):
        config = _obj(spec.get(which), which)
        if config.get("FailureAction", "pause") not in ("pause", "continue", "rollback"):
            raise invalid(f"{which}: unrecognized FailureAction {config['FailureAction']!r}")
        if config.get("Order", "stop-first") not in ("stop-first", "start-first"):
            raise invalid(f"{which}: unrecognized Order {config['Order']!r}")
    endpoints.check_shapes(spec)
    if isinstance(spec.get("Labels"), dict):
        lb_policy.of_service(spec)  # com.minke.lb.* labels: a bad one is a 400 naming it
        strategies.check_label(spec)  # com.minke.scheduler.strategy
    return spec


def replicated_job(given: Any) -> Obj:
    """``Mode.ReplicatedJob`` with its defaults made explicit: ``MaxConcurrent`` 1 and
    ``TotalCompletions`` as many as ``MaxConcurrent`` (the docker CLI dereferences both)."""
    job = {k[:1].upper() + k[1:]: v for k, v in _obj(given, "Mode.ReplicatedJob").items()}
    for key in ("MaxConcurrent", "TotalCompletions"):
        value = job.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 0):
            raise invalid(f"ReplicatedJob.{key}: a number >= 0 is expected")
    concurrent = job.get("MaxConcurrent") or 1
    if job.get("TotalCompletions") and job["TotalCompletions"] < concurrent:
        raise invalid(f"ReplicatedJob.TotalCompletions ({job['TotalCompletions']}) must be at "
                      f"least ReplicatedJob.MaxConcurrent ({concurrent})")
    return {"MaxConcurrent": concurrent,
            "TotalCompletions": job.get("TotalCompletions") or concurrent}


def mode_name(spec: Obj) -> str:
    """The mode as ``docker service ls --filter mode=`` names it."""
    return {"Replicated": "replicated", "Global": "global", "ReplicatedJob": "replicated-job",
            "GlobalJob": "global-job"}[next(iter(spec["Mode"]))]


def job_status(iteration: int) -> Obj:
    """A job's ``JobStatus``: each run of the job is an iteration, numbered by the
    service version it started from (SwarmKit's), its tasks carry the same number."""
    return {"JobIteration": {"Index": iteration}, "LastExecution": t.now()}


def with_defaults(spec: Obj) -> Obj:
    """``insertDefaults``: the spec with SwarmKit's defaults filled in (a copy)."""
    spec = copy.deepcopy(spec)
    spec["TaskTemplate"] = t.template_with_defaults(spec.get("TaskTemplate"), spec)
    spec["UpdateConfig"] = {**DEFAULT_UPDATE, **(spec.get("UpdateConfig") or {})}
    spec["RollbackConfig"] = {**DEFAULT_UPDATE, **(spec.get("RollbackConfig") or {})}
    spec.setdefault("EndpointSpec", {"Mode": "vip"})
    return spec


def find_service(tx: ReadTx, ref: str) -> Obj:
    """A service by full ID, then name, then ID prefix (dockerd's ``getService``)."""
    service = tx.get("service", ref)
    if service is not None:
        return service
    named = tx.find("service", name=ref) if ref else []
    if named:
        return named[0]
    matches = [s for s in tx.list("service") if ref and s["ID"].startswith(ref)]
    if not matches:
        raise errors.NotFound(f"service {ref} not found")
    if len(matches) > 1:
        raise errors.InvalidParameter(
            f"service {ref} is ambiguous ({len(matches)} matches found)")
    return matches[0]


def service_doc(service: Obj) -> Obj:
    doc = t.public(service)
    doc.setdefault("Endpoint", {"Spec": service["Spec"].get("EndpointSpec") or {}})
    return doc


def check_filters(filters: Filters, allowed: tuple[str, ...]) -> None:
    for key in filters:
        if key not in allowed:
            raise errors.InvalidParameter(f"Invalid filter '{key}'")


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, _, value = item.partition("=")
        if key not in labels or ("=" in item and labels[key] != value):
            return False
    return True


class ServiceControl:
    """Service and task operations on ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, spec: Any) -> Obj:
        spec = validate_spec(spec)
        if not spec.get("Name"):
            spec["Name"] = random_name()
        service: Obj = {"ID": new_id(), "Spec": spec,
                        "Endpoint": {"Spec": spec.get("EndpointSpec") or {}}}
        if "ReplicatedJob" in spec["Mode"] or "GlobalJob" in spec["Mode"]:
            service["JobStatus"] = job_status(0)

        def create(tx: Tx) -> Obj:
            check_references(tx, spec["TaskTemplate"]["ContainerSpec"])
            resources.check_known_kinds(tx, spec["TaskTemplate"])
            endpoints.allocate(tx, service)
            try:
                return tx.create("service", service)
            except NameConflict:
                raise rpc_error("AlreadyExists",
                                f"service {spec['Name']} already exists") from None
        return await self.store.update(create)

    async def get(self, ref: str, *, insert_defaults: bool = False) -> Obj:
        service = service_doc(await self.store.view(lambda tx: find_service(tx, ref)))
        if insert_defaults:
            service["Spec"] = with_defaults(service["Spec"])
            if service.get("PreviousSpec"):
                service["PreviousSpec"] = with_defaults(service["PreviousSpec"])
        return service

    async def list(self, filters: Filters, *, status: bool = False) -> list[Obj]:
        check_filters(filters, SERVICE_FILTERS)
        for mode in filters.get("mode", []):
            if mode not in ("replicated", "global", "replicated-job", "global-job"):
                raise errors.InvalidParameter(f"Invalid filter: 'mode'='{mode}'")

        def read(tx: ReadTx) -> tuple[list[Obj], list[Obj], list[Obj]]:
            return tx.list("service"), tx.list("task") if status else [], \
                tx.list("node") if status else []
        services, all_tasks, nodes = await self.store.view(read)
        out = []
        for service in services:
            spec = service["Spec"]
            if filters.get("id") and not any(service["ID"].startswith(i)
                                             for i in filters["id"]):
                continue
            if filters.get("name") and not any(spec["Name"].startswith(n)
                                               for n in filters["name"]):
                continue
            if not _labels_match(spec.get("Labels") or {}, filters.get("label", [])):
                continue
            if filters.get("mode") and mode_name(spec) not in filters["mode"]:
                continue
            doc = service_doc(service)
            if status:
                doc["ServiceStatus"] = service_status(service, all_tasks, nodes)
            out.append(doc)
        return out

    async def update(self, ref: str, version: int, spec: Any, *,
                     rollback: bool = False) -> Obj:
        new_spec = validate_spec(spec) if not rollback else None

        def update(tx: Tx) -> Obj:
            service = find_service(tx, ref)
            if service["Version"]["Index"] != version:
                raise out_of_sequence()
            old = service["Spec"]
            if rollback:
                if not service.get("PreviousSpec"):
                    raise rpc_error("FailedPrecondition",
                                    f"service {service['ID']} does not have a previous spec")
                wanted = service["PreviousSpec"]
            else:
                assert new_spec is not None
                wanted = new_spec
                wanted["Name"] = wanted.get("Name") or old["Name"]
            check_references(tx, wanted["TaskTemplate"]["ContainerSpec"])
            resources.check_known_kinds(tx, wanted["TaskTemplate"])
            if wanted["Name"] != old["Name"]:
                raise rpc_error("Unimplemented", "renaming services is not supported")
            if mode_name(wanted) != mode_name(old):
                raise rpc_error("InvalidArgument", "service mode change is not allowed")
            if t.is_job(service):
                # Every update of a job runs it again (SwarmKit's): a new iteration, and no
                # rolling update (``UpdateConfig`` does not apply to jobs).
                service["JobStatus"] = job_status(service["Version"]["Index"])
            before = copy.deepcopy(service)
            service["PreviousSpec"], service["Spec"] = old, wanted
            service["_serial"] = service.get("_serial", 0) + 1  # the orchestrator's cue
            endpoints.allocate(tx, service, previous=before)
            # A new endpoint too: tasks join or leave the ingress network (SwarmKit's).
            if (wanted.get("TaskTemplate") != old.get("TaskTemplate")
                    or t.endpoint_spec(wanted) != t.endpoint_spec(old)) \
                    and not t.is_job({"Spec": wanted}):
                service["UpdateStatus"] = {
                    "State": "rollback_started" if rollback else "updating",
                    "StartedAt": t.now(),
                    "Message": "manually requested rollback" if rollback
                    else "update in progress"}
            return tx.update("service", service)
        return await self.store.update(update)

    async def remove(self, ref: str) -> None:
        await self.store.update(lambda tx: tx.delete("service", find_service(tx, ref)["ID"]))

    async def tasks(self, filters: Filters) -> list[Obj]:
        check_filters(filters, TASK_FILTERS)
        for state in filters.get("desired-state", []):
            if state not in ("running", "shutdown", "accepted"):
                raise errors.InvalidParameter(
                    f"Invalid desired-state filter: '{state}'")

        def read(tx: ReadTx) -> list[Obj]:
            services = {s["ID"]: s for s in tx.list("service")}
            service_ids = [find_service(tx, ref)["ID"] for ref in filters.get("service", [])]
            node_ids = [find_node(tx, ref)["ID"] for ref in filters.get("node", [])]
            out = []
            for task in tx.list("task"):
                if service_ids and task["ServiceID"] not in service_ids:
                    continue
                if node_ids and task.get("NodeID") not in node_ids:
                    continue
                if filters.get("id") and not any(task["ID"].startswith(i)
                                                 for i in filters["id"]):
                    continue
                desired = filters.get("desired-state")
                if desired and task["DesiredState"] not in desired:
                    continue
                service = services.get(task["ServiceID"])
                # SwarmKit matches a task's labels against its service's (the docker
                # CLI's ``stack ps`` lists a stack's tasks by its namespace label).
                labels = {**(service["Spec"].get("Labels") or {} if service else {}),
                          **(task.get("Labels") or {})}
                if not _labels_match(labels, filters.get("label", [])):
                    continue
                if filters.get("_up-to-date") and (service is None
                                                   or t.is_dirty(task, service)):
                    continue
                if filters.get("name"):
                    name = t.task_name(service["Spec"]["Name"], task) if service else ""
                    if not any(name.startswith(n) for n in filters["name"]):
                        continue
                out.append(t.public(task))
            return out
        return await self.store.view(read)

    async def task(self, ref: str) -> Obj:
        def read(tx: ReadTx) -> Obj:
            task = tx.get("task", ref)
            if task is None:
                matches = [x for x in tx.list("task") if ref and x["ID"].startswith(ref)]
                if len(matches) != 1:
                    raise errors.NotFound(f"task {ref} not found") if not matches else \
                        errors.InvalidParameter(
                            f"task {ref} is ambiguous ({len(matches)} matches found)")
                task = matches[0]
            return t.public(task)
        return await self.store.view(read)


def service_status(service: Obj, all_tasks: list[Obj], nodes: list[Obj]) -> Obj:
    """``ServiceStatus`` as dockerd computes it: running tasks on nodes not down, and the
    tasks wanted (replicas, or the global tasks meant to run on nodes not down)."""
    up = {n["ID"] for n in nodes if n["Status"]["State"] != "down"}
    mine = [x for x in all_tasks if x["ServiceID"] == service["ID"] and x.get("NodeID") in up]
    running = sum(1 for x in mine if x["Status"]["State"] == t.RUNNING)
    if t.is_job(service):
        return job_service_status(service, mine)
    if "Global" in service["Spec"]["Mode"]:
        desired = sum(1 for x in mine if x["DesiredState"] == t.RUNNING)
    else:
        desired = service["Spec"]["Mode"]["Replicated"]["Replicas"]
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}


def job_service_status(service: Obj, tasks: list[Obj]) -> Obj:
    """A job's ``ServiceStatus``, over the tasks of its current iteration: those running,
    those completed, and those still wanted (``docker service ls`` shows
    "running/desired (completed/total completed)")."""
    iteration = service.get("JobStatus", {}).get("JobIteration", {}).get("Index", 0)
    current = [x for x in tasks if (x.get("JobIteration") or {}).get("Index") == iteration]
    running = sum(1 for x in current if x["Status"]["State"] == t.RUNNING)
    completed = sum(1 for x in current if x["Status"]["State"] == t.COMPLETE)
    job = service["Spec"]["Mode"].get("ReplicatedJob")
    if job is not None:
        desired = max(0, min(job["MaxConcurrent"], job["TotalCompletions"] - completed))
    else:
        desired = sum(1 for x in current if x["DesiredState"] == t.COMPLETE
                      and x["Status"]["State"] != t.COMPLETE)
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}
