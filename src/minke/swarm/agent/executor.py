"""The node's agent: runs the tasks assigned to this node as containers of the local Engine
(dockerd's ``daemon/cluster/executor/container``) and reports their states to the store.

Level-triggered per task: a task is looked at again whenever the store changes it or its
container has an event (die, destroy), and each look compares the task's desired state with
its container and moves one way only: ACCEPTED → PREPARING → READY → STARTING → RUNNING →
COMPLETE/FAILED (a container that stopped by itself, or turned unhealthy: it is then
stopped once the task is shut down), SHUTDOWN (stopped because the task's
DesiredState asked for it) or REJECTED (the container could not be made). A task is never
taken past its DesiredState, so a task held at READY (a delayed restart, a stop-first
update) waits without a container. The container of a task the reaper removed is removed.

Containers are named ``<service>.<slot>.<task-id>`` (global: ``<service>.<node-id>.<task-id>``)
and labelled ``com.docker.swarm.{node,service,task}.*`` as Docker's; like dockerd's, a task
without network attachments gets the engine's default network (the bridge).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from minke import errors
from minke.aio import cancel
from minke.engine.network.sandbox import SWARM_TASK_LABEL as TASK_LABEL
from minke.swarm import taskfiles
from minke.swarm.agent.networks import SwarmNetworks
from minke.swarm.ca import DataKey
from minke.swarm.manager import tasks as t
from minke.swarm.manager.resources import task_env
from minke.swarm.manager.secrets import task_payloads
from minke.swarm.network.allocator import attachment_addresses, needs_attachments
from minke.swarm.store import Obj, Store, Tx

if TYPE_CHECKING:
    from minke.engine.engine import Engine

log = logging.getLogger(__name__)

SECOND = 1_000_000_000


class TaskExecutor:
    def __init__(self, engine: Engine, store: Store, node_id: str, data_key: DataKey) -> None:
        self.engine = engine
        self.store = store
        self.node_id = node_id
        self.data_key = data_key  # opens the secrets and configs tasks mount
        self._dirty: set[str] = set()
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._exits: dict[str, int] = {}  # task ID → exit code of its container's last die
        self._watch: asyncio.Task[None] | None = None
        self._stopped = False
        # the tasks' networks and balancing, and the overlay data path of this node
        self.networks = SwarmNetworks(engine, store, node_id)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.networks.start()  # before any task: they join its networks
        self.engine.events.listen(self._container_event)
        index, mine = await self.store.view(
            lambda tx: (tx.index, [x["ID"] for x in tx.find("task", node_id=self.node_id)]))
        self._watch = asyncio.create_task(self._follow(index), name="swarm-agent")
        for task_id in mine + list(self._containers()):
            self._mark(task_id)

    async def stop(self) -> None:
        self._stopped = True  # the bus has no unlisten: the listener goes quiet instead
        await self.networks.stop()
        for task in [self._watch, *self._busy.values()]:
            await cancel(task)
        self._busy.clear()

    async def _follow(self, since: int) -> None:
        async for event in self.store.watch(("task",), since=since):
            if event.object.get("NodeID") == self.node_id or (
                    event.old is not None and event.old.get("NodeID") == self.node_id):
                self._mark(event.id)

    def _container_event(self, event: dict[str, Any]) -> None:
        if self._stopped or event["Type"] != "container" or \
                event["Action"] not in ("die", "destroy", "health_status: unhealthy",
                                        "health_status: healthy"):
            return
        task_id = event["Actor"]["Attributes"].get(TASK_LABEL)
        if task_id:
            if event["Action"] == "die":
                self._exits[task_id] = int(event["Actor"]["Attributes"].get("exitCode", "0"))
            self._mark(task_id)

    def _mark(self, task_id: str) -> None:
        if self._stopped:
            return
        if task_id in self._busy:
            self._again.add(task_id)
            return
        self._busy[task_id] = asyncio.create_task(self._run(task_id))

    async def _run(self, task_id: str) -> None:
        try:
            while True:
                try:
                    await self._sync(task_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("swarm task %s", task_id)
                if task_id not in self._again:
                    break
                self._again.discard(task_id)
        finally:
            self._busy.pop(task_id, None)

    # -- one task -----------------------------------------------------------------------

    def _containers(self) -> dict[str, Obj]:
        """Task ID → the record of its container, for this node's task containers."""
        out = {}
        for record in self.engine.containers.all():
            labels = record["Config"].get("Labels") or {}
            if labels.get("com.docker.swarm.node.id") == self.node_id and TASK_LABEL in labels:
                out[labels[TASK_LABEL]] = record
        return out

    async def _sync(self, task_id: str) -> None:
        task, service, node = await self.store.view(lambda tx: self._read(tx, task_id))
        if task is not None and t.attachment_container(task):
            return  # a standalone container's network attachment: the engine's, no run
        record = self._containers().get(task_id)
        if task is None or task.get("NodeID") != self.node_id:
            if record is not None:  # reaped (or moved): its container goes too
                with contextlib.suppress(errors.NotFound):
                    await self.engine.containers.remove(record["Id"], force=True)
            await asyncio.to_thread(taskfiles.release, task_files_dir(self.engine, task_id))
            return
        state, desired = task["Status"]["State"], task["DesiredState"]
        running = record is not None and self.engine.containers.is_running(record["Id"])
        if t.has_ended(task) and running and t.rank(desired) > t.rank(t.RUNNING):
            # failed while its container ran on (unhealthy): shut down as asked
            await self._stop(task, record)
            return
        if t.has_ended(task) or t.rank(state) < t.rank(t.ASSIGNED):
            return
        if t.rank(desired) > t.rank(t.RUNNING) and desired != t.COMPLETE:
            if running:
                await self._stop(task, record)
            await self._report(task_id, t.SHUTDOWN, "shutdown", record=record)
            return
        if record is None:
            if t.rank(state) >= t.rank(t.STARTING):  # removed under us (docker rm -f)
                code = self._exits.pop(task_id, 137)
                await self._report(task_id, t.FAILED, "started",
                                   f"task: non-zero exit ({code})", exit_code=code)
                return
            # A task joining swarm networks starts once the allocator gave it its
            # addresses (its update wakes this task again).
            if t.wants_run(task) and not needs_attachments(task, service):
                await self._launch(task, service, node)
            return
        if running:
            if (record["State"].get("Health") or {}).get("Status") == "unhealthy":
                # dockerd's controller: an unhealthy container fails its task
                await self._report(task_id, t.FAILED, "started", "container unhealthy",
                                   record=record)
                return
            if _health(record) != "starting":  # dockerd's: running once healthy
                await self._report(task_id, t.RUNNING, "started", record=record)
            return
        if record["State"].get("StartedAt", "").startswith("0001-"):
            if t.wants_run(task):  # made but never started (a restart in between)
                await self._start(task_id, record)
            return
        code = record["State"].get("ExitCode", 0)
        if code == 0:
            await self._report(task_id, t.COMPLETE, "finished", record=record)
        else:
            await self._report(task_id, t.FAILED, "started", f"task: non-zero exit ({code})",
                               record=record)

    async def _stop(self, task: Obj, record: Obj | None) -> None:
        if record is None:
            return
        grace = task["Spec"].get("ContainerSpec", {}).get("StopGracePeriod")
        await self.networks.take_out(task["ID"])  # no new connection while it stops
        with contextlib.suppress(errors.NotFound):
            await self.engine.containers.stop(
                record["Id"], timeout=10 if grace is None else grace // SECOND)

    def _read(self, tx: Any, task_id: str) -> tuple[Obj | None, Obj | None, Obj | None]:
        task = tx.get("task", task_id)
        if task is None:
            return None, None, None
        return task, tx.get("service", task["ServiceID"]), tx.get("node", self.node_id)

    async def _launch(self, task: Obj, service: Obj | None, node: Obj | None) -> None:
        task_id = task["ID"]
        await self._report(task_id, t.ACCEPTED, "accepted")
        await self._report(task_id, t.PREPARING, "preparing")
        service_name = service["Spec"]["Name"] if service else ""
        config = container_config(task, service, node, self.node_id)
        name = t.container_name(service_name, task)
        files_dir = task_files_dir(self.engine, task_id)
        try:
            await self.networks.ensure_local(
                list((config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}))
            config["HostConfig"]["Mounts"] += await self._task_files(task, files_dir)
            try:
                record = await self.engine.containers.create(config, name=name)
            except errors.NotFound:
                await self._pull(config["Image"])
                record = await self.engine.containers.create(config, name=name)
        except errors.MinkeError as exc:
            await asyncio.to_thread(taskfiles.release, files_dir)
            await self._report(task_id, t.REJECTED, "preparing", exc.message)
            return
        await self._report(task_id, t.READY, "prepared", record=record)
        await self._start(task_id, record)

    async def _task_files(self, task: Obj, directory: Any) -> list[Obj]:
        """The task's secrets and configs on a tmpfs of its own, as bind mounts."""
        spec = task["Spec"].get("ContainerSpec") or {}
        if not spec.get("Secrets") and not spec.get("Configs"):
            return []
        secrets, configs = await task_payloads(self.store, self.data_key, spec)
        files = taskfiles.plan(spec, secrets, configs)
        return await asyncio.to_thread(taskfiles.materialise, directory, files)

    async def _pull(self, image: str) -> None:
        """Pull a missing image as dockerd's executor does; a failure is only logged: the
        create that follows reports the missing image."""
        try:
            await self.engine.images.pull(image)
        except errors.MinkeError as exc:
            log.warning("pulling %s for a task failed: %s", image, exc)

    async def _start(self, task_id: str, record: Obj) -> None:
        await self._report(task_id, t.STARTING, "starting", record=record)
        try:
            await self.engine.containers.start(record["Id"])
        except errors.MinkeError as exc:
            await self._report(task_id, t.FAILED, "starting", exc.message, record=record)
            return
        # A container that exited at once is reported by its die event's pass; one with a
        # health check is RUNNING at its health_status: healthy event's pass (as dockerd's
        # controller waits for health), so updates and balancing wait for it too.
        if self.engine.containers.is_running(record["Id"]):
            started = self.engine.containers.get(record["Id"])
            if _health(started) != "starting":
                await self._report(task_id, t.RUNNING, "started", record=started)

    async def _report(self, task_id: str, state: str, message: str, err: str = "", *,
                      record: Obj | None = None, exit_code: int | None = None) -> None:
        """Move the task forward to ``state`` (never past its DesiredState)."""
        def update(tx: Tx) -> None:
            task = tx.get("task", task_id)
            if task is None or t.has_ended(task):
                return
            if t.rank(state) > t.rank(task["DesiredState"]) and t.rank(state) <= t.rank(
                    t.RUNNING):
                return
            if not t.set_state(task, state, message, err):
                return
            if record is not None or exit_code is not None:
                status = {"ContainerID": record["Id"] if record else
                          task["Status"].get("ContainerStatus", {}).get("ContainerID", ""),
                          "PID": record["State"].get("Pid", 0) if record else 0,
                          "ExitCode": record["State"].get("ExitCode", 0) if record and
                          exit_code is None else (exit_code or 0)}
                task["Status"]["ContainerStatus"] = status
            tx.update("task", task)
        await self.store.update(update)


def _health(record: Obj) -> str:
    return str((record["State"].get("Health") or {}).get("Status") or "")


def task_files_dir(engine: Engine, task_id: str) -> Any:
    """Where a task's secrets and configs are mounted on the host (in memory)."""
    return engine.config.exec_root / "swarm" / "tasks" / task_id


def container_config(task: Obj, service: Obj | None, node: Obj | None,
                     node_id: str) -> Obj:
    """The ``/containers/create`` body for ``task`` (dockerd's ``containerConfig``)."""
    spec = task["Spec"].get("ContainerSpec") or {}
    service_spec = service["Spec"] if service else {"Name": "", "Labels": {}}
    description = (node or {}).get("Description") or {}
    name = t.container_name(service_spec["Name"], task)
    context = {
        "Service": {"ID": task["ServiceID"], "Name": service_spec["Name"],
                    "Labels": service_spec.get("Labels") or {}},
        "Node": {"ID": node_id, "Hostname": description.get("Hostname", ""),
                 "Platform": description.get("Platform") or {}},
        "Task": {"ID": task["ID"], "Name": name, "Slot": task.get("Slot") or node_id},
    }

    def expand(text: str) -> str:
        return t.expand_template(text, context)
    labels = {**(spec.get("Labels") or {}),
              "com.docker.swarm.node.id": node_id,
              "com.docker.swarm.service.id": task["ServiceID"],
              "com.docker.swarm.service.name": service_spec["Name"],
              "com.docker.swarm.task": "",
              TASK_LABEL: task["ID"],
              "com.docker.swarm.task.name": name}
    resources = task["Spec"].get("Resources") or {}
    limits = resources.get("Limits") or {}
    mounts = []
    for mount in spec.get("Mounts") or []:
        mount = dict(mount)
        for key in ("Source", "Target"):
            if mount.get(key):
                mount[key] = expand(mount[key])
        mounts.append(mount)
    host: Obj = {
        "Mounts": mounts,
        "RestartPolicy": {"Name": "no"},
        "NanoCpus": limits.get("NanoCPUs") or 0,
        "Memory": limits.get("MemoryBytes") or 0,
        "ReadonlyRootfs": bool(spec.get("ReadOnly")),
        "CapAdd": spec.get("CapabilityAdd"),
        "CapDrop": spec.get("CapabilityDrop"),
        "GroupAdd": spec.get("Groups"),
        "Init": spec.get("Init"),
        "ExtraHosts": [f"{name}:{h.split()[0]}" for h in spec.get("Hosts") or []
                       for name in h.split()[1:]] or None,  # "IP host…" → "host:IP"
        "Sysctls": spec.get("Sysctls"),
        "Ulimits": spec.get("Ulimits"),
    }
    if limits.get("Pids"):
        host["PidsLimit"] = limits["Pids"]
    dns = spec.get("DNSConfig") or {}
    if dns:
        host.update({"Dns": dns.get("Nameservers"), "DnsSearch": dns.get("Search"),
                     "DnsOptions": dns.get("Options")})
    config: Obj = {
        "Image": spec["Image"],
        "Labels": labels,
        "Hostname": expand(spec.get("Hostname") or ""),
        "Env": [expand(e) for e in spec.get("Env") or []] + task_env(task),
        "User": spec.get("User") or "",
        "WorkingDir": spec.get("Dir") or "",
        "Tty": bool(spec.get("TTY")),
        "OpenStdin": bool(spec.get("OpenStdin")),
        "HostConfig": {k: v for k, v in host.items() if v is not None},
    }
    if spec.get("Command"):
        config["Entrypoint"] = spec["Command"]
    if spec.get("Args"):
        config["Cmd"] = spec["Args"]
    if spec.get("StopSignal"):
        config["StopSignal"] = spec["StopSignal"]
    if spec.get("StopGracePeriod") is not None:
        config["StopTimeout"] = spec["StopGracePeriod"] // SECOND
    if spec.get("Healthcheck"):
        config["Healthcheck"] = spec["Healthcheck"]
    _attach(config, service, attachment_addresses(task))
    return config


def _attach(config: Obj, service: Obj | None, addresses: dict[str, str]) -> None:
    """The task's networks (the ingress network first when it publishes ingress ports, then
    the service's, with their aliases, at the ``addresses`` the allocator gave the task)
    and its host-mode ports, as dockerd's executor sets them; none: the engine's default
    network."""
    if service is None:
        return
    spec, endpoint = service["Spec"], service.get("Endpoint") or {}
    attached = {e["Target"]: {"Aliases": e.get("Aliases") or None}
                for e in spec["TaskTemplate"].get("Networks") or spec.get("Networks") or []}
    ports = endpoint.get("Ports") or []
    ingress = [v["NetworkID"] for v in endpoint.get("VirtualIPs") or []
               if v["NetworkID"] not in attached]
    if any(p["PublishMode"] == "ingress" for p in ports) and ingress:
        attached = {ingress[0]: {}, **attached}
    for network_id, settings in attached.items():
        if addresses.get(network_id):
            settings["IPAMConfig"] = {"IPv4Address": addresses[network_id]}
    if attached:
        config["HostConfig"]["NetworkMode"] = next(iter(attached))
        config["NetworkingConfig"] = {"EndpointsConfig": attached}
    host_ports = [p for p in ports if p["PublishMode"] == "host"]
    if host_ports:
        config["ExposedPorts"] = {f"{p['TargetPort']}/{p['Protocol']}": {} for p in host_ports}
        bindings: dict[str, list[Obj]] = {}
        for p in host_ports:
            bindings.setdefault(f"{p['TargetPort']}/{p['Protocol']}", []).append(
                {"HostIp": "", "HostPort": str(p.get("PublishedPort") or "")})
        config["HostConfig"]["PortBindings"] = bindings
