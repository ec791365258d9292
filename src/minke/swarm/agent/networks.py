"""The swarm's networking on this node (dockerd's ``daemon/cluster/networks.go`` and
libnetwork's service load balancer, on one node): swarm-scoped networks in the store and
realised by the local ``overlay`` driver, the ``ingress`` network, and for every service
the data path of its endpoint: VIP balancing and ingress ports in nftables
(``firewall.ServiceRules``) and its names in the embedded DNS.

A task is a backend while it is RUNNING, wanted running, not being taken out and its
container not starting or unhealthy by its health check; a task on another node (a
multi-node swarm) while its node is not down and its agent reports it RUNNING (which it does
once healthy), at the address the allocator gave it. On such a node the overlay networks
also carry VXLAN peers and this node's load-balancer address (``minke.swarm.network.mesh``),
programmed before the firewall that source-NATs to it. The rules are recomputed from the
store and the local endpoints whenever a service, task or network changes or a task's
container starts, dies or changes health, and replace the firewall table in one
transaction. ``take_out`` is the executor's: a task about to be stopped leaves the rules
before its container gets the signal, so no new connection reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from minke import errors
from minke.aio import cancel
from minke.engine.network import ipam
from minke.engine.network.dns import Answer
from minke.engine.network.firewall import ServiceRules
from minke.engine.network.sandbox import SWARM_TASK_LABEL
from minke.swarm.ids import new_id
from minke.swarm.lb import policy as lb_policy
from minke.swarm.lb.controller import Balancer, ServiceInfo, aligned
from minke.swarm.manager import tasks as t
from minke.swarm.manager.controlapi import rpc_error
from minke.swarm.manager.endpoints import INGRESS_NAME, network_in_use
from minke.swarm.network.allocation import (
    VNI_OPTION,
    allocate_vni,
    check_options,
    node_addresses,
    used_addresses,
)
from minke.swarm.network.allocator import attachment_addresses
from minke.swarm.network.attachments import Attacher, LocalAttacher
from minke.swarm.network.mesh import OverlayState, node_data_address, plan
from minke.swarm.store import DELETE, NameConflict, Obj, Store, Tx

if TYPE_CHECKING:
    from minke.engine.engine import Engine

log = logging.getLogger(__name__)

INGRESS_SUBNET = "10.0.0.0/24"  # Docker's default, unless it clashes with this host
SERVICE_LABEL = "com.docker.swarm.service.id"
TAKE_OUT_GRACE = 0.2  # s for the other nodes to apply a task's removal from balancing


def network_object(network_id: str, body: Obj, subnets: list[ipam.Subnet], *,
                   ingress: bool = False) -> Obj:
    """The store's network object (SwarmKit's ``api.Network``, as the Docker API shows)."""
    configs = [s.to_docker() for s in subnets]
    return {
        "ID": network_id,
        "Spec": {"Name": body["Name"], "Labels": body.get("Labels") or {},
                 "DriverConfiguration": {"Name": "overlay",
                                         "Options": body.get("Options") or {}},
                 "IPAMOptions": {"Driver": {"Name": "default"}, "Configs": configs},
                 "Attachable": bool(body.get("Attachable")),
                 "Internal": bool(body.get("Internal")), "Ingress": ingress,
                 "Scope": "swarm"},
        "DriverState": {"Name": "overlay"},
        "IPAM": {"Driver": {"Name": "default"}, "Configs": configs},
    }


async def forget(networks: Any) -> None:
    """The node left its swarm (its task containers are gone): its swarm networks and
    service balancing go from this host (``networks``: the engine's NetworkService)."""
    networks.service_rules.clear()
    networks.service_names.clear()
    networks.leaving.clear()
    for doc in [d for d in networks.all() if d.get("Scope") == "swarm"]:
        try:
            await networks.remove_local(doc)
        except errors.MinkeError as exc:
            log.error("removing network %s: %s", doc["Name"], exc)
    networks.extension.names.rebuild()
    await networks.apply_firewall()


class SwarmNetworks:
    """Swarm networks and service balancing of this node while its swarm is active."""

    def __init__(self, engine: Engine, store: Store, node_id: str = "") -> None:
        self.engine = engine
        self.networks = engine.networks
        self.store = store
        self.node_id = node_id  # this node: its tasks are local, the others' remote
        self.draining: set[str] = set()  # task IDs being stopped: no longer backends
        # Weights by strategy and the circuit breaker, from what this node sees.
        self.balancer = Balancer(engine.networks, engine.containers, engine.events.publish)
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopped = False
        self._applied: tuple[Any, ...] | None = None
        self._lock = asyncio.Lock()
        self._sync_lock = asyncio.Lock()
        self._resync = False  # a removed network's endpoint left: sync before the refresh
        self._cluster_used: dict[str, set[str]] = {}  # network id → addresses held
        self._reprogram = False  # networks were synced: program the overlays again
        # tasks with swarm network attachments: only their containers' events matter here
        self._networked: set[str] = set()
        # Standalone containers' attachment tasks: on a manager its store; a worker sets
        # a ``RemoteAttacher`` (its managers over mTLS) before ``start``.
        self.attacher: Attacher = LocalAttacher(store, node_id)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.networks.swarm = self
        # Followed from before the first sync: a change made meanwhile is seen again
        # rather than missed (a network created while this node starts its agent).
        index, nodes = await self.store.view(lambda tx: (tx.index, tx.list("node")))
        self._set_data_path(nodes)
        await self._ensure_ingress()
        await self.sync_networks()
        await self.balancer.start()  # before the rules: they log to its NFLOG group
        await self.refresh()
        self.engine.events.listen(self._container_event)
        self._loops = [asyncio.create_task(self._follow(index), name="swarm-networks"),
                       asyncio.create_task(self._refresher(), name="swarm-balancer"),
                       # in the background: it may have to reach a manager
                       asyncio.create_task(self._drop_stale_attachments(),
                                           name="swarm-stale-attachments")]

    async def stop(self) -> None:
        """The daemon stops or the node leaves: networks and rules stay (live restore);
        ``forget`` takes them off for a leave."""
        self._stopped = True
        if self.networks.swarm is self:
            self.networks.swarm = None
        for loop in self._loops:
            await cancel(loop)
        self._loops = []
        await self.balancer.stop()

    async def _follow(self, since: int) -> None:
        async for event in self.store.watch(("network", "service", "task", "node"),
                                            since=since):
            if event.kind == "network":
                await self.sync_networks()
            if event.kind == "task":
                if event.action != DELETE and event.object.get("NetworksAttachments"):
                    self._networked.add(event.id)
                else:
                    self._networked.discard(event.id)
            if event.kind == "task" and not (event.object.get("NetworksAttachments") or (
                    event.old or {}).get("NetworksAttachments")):
                # A task on no swarm network is no backend, name or overlay peer: its
                # progress changes nothing here (and a refresh reads every task).
                continue
            self._wake.set()

    async def _refresher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._resync:
                    self._resync = False
                    await self.sync_networks()
                await self.refresh()
            except Exception:
                log.exception("updating the swarm's service balancing")

    def _container_event(self, event: dict[str, Any]) -> None:
        if self._stopped or event["Type"] != "container":
            return
        attributes = event["Actor"]["Attributes"]
        if SERVICE_LABEL in attributes and \
                attributes.get(SWARM_TASK_LABEL) in self._networked and (
                event["Action"] in ("start", "die", "destroy")
                or event["Action"].startswith("health_status")):
            self._wake.set()

    # -- networks -----------------------------------------------------------------------

    async def create_network(self, body: Obj, *, ingress: bool = False) -> Obj:
        """``docker network create -d overlay`` on a manager: the store, then this host."""
        name = body.get("Name") or ""
        driver = body.get("Driver") or "overlay"
        if driver != "overlay":
            raise errors.InvalidParameter(f"driver {driver!r} cannot make a swarm-scoped "
                                          "network: use overlay")
        options = body.get("Options") or {}
        check_options(options)
        network_id = new_id()
        subnets = await asyncio.to_thread(self.networks.plan_subnets, body, network_id)
        obj = network_object(network_id, body, subnets, ingress=ingress)

        def create(tx: Tx) -> None:
            vni = allocate_vni(tx.list("network"), options.get(VNI_OPTION))
            obj["DriverState"]["Options"] = {VNI_OPTION: str(vni)}
            try:
                tx.create("network", obj)
            except NameConflict:
                raise errors.Conflict(f"network with name {name} already exists") from None
        await self.store.update(create)
        try:
            return await self._realise(obj)
        except BaseException:
            await self.store.update(lambda tx: tx.delete("network", network_id))
            raise

    async def _realise(self, obj: Obj) -> Obj:
        spec = obj["Spec"]
        options = {**(spec["DriverConfiguration"].get("Options") or {}),
                   **((obj.get("DriverState") or {}).get("Options") or {})}
        body = {"Name": spec["Name"], "Driver": "overlay", "Labels": spec.get("Labels"),
                "Options": options,
                "Attachable": spec.get("Attachable"), "Internal": spec.get("Internal")}
        doc = await self.networks.create_local(
            body, network_id=obj["ID"], scope="swarm", ingress=bool(spec.get("Ingress")),
            ipam_config=obj["IPAM"]["Configs"])
        # A fresh bridge: its VXLAN port, peers and address are programmed by the next
        # refresh, also when nothing else changed.
        self._reprogram = True
        self._wake.set()
        return doc

    async def remove_network(self, doc: Obj, check_local: Callable[[], None]) -> None:
        """``docker network rm`` of a swarm network: out of the store unless a service uses
        it, ``check_local`` (no standalone container here on it) raises or a standalone
        container of another node is attached to it (SwarmKit's "in use by task"); off this host
        at once, or when the last of its task containers leaves it."""
        def remove(tx: Tx) -> None:
            user = network_in_use(tx, doc["Id"])
            if user is not None:
                raise rpc_error("FailedPrecondition", f"network {doc['Id']} is in use by "
                                                      f"service {user['ID']}")
            check_local()
            for task in tx.list("task"):  # a standalone container on another node
                if t.attachment_container(task) and not t.has_ended(task) and any(
                        e.get("Target") == doc["Id"] for e in task["Spec"].get("Networks")
                        or []):
                    raise rpc_error("FailedPrecondition", f"network {doc['Id']} is in use "
                                                          f"by task {task['ID']}")
            if tx.get("network", doc["Id"]) is not None:
                tx.delete("network", doc["Id"])
        await self.store.update(remove)
        await self.sync_networks()

    def endpoint_left(self) -> None:
        """An endpoint left a network the store no longer has (the engine calls this)."""
        if not self._stopped:
            self._resync = True
            self._wake.set()

    def _set_data_path(self, nodes: list[Obj]) -> bool:
        """This node carries its overlay networks over VXLAN from its data-path address
        when it has a routable one (a swarm on 127.0.0.1 stays on one node). True when
        that changed."""
        node = next((n for n in nodes if n["ID"] == self.node_id), None)
        address = node_data_address(node) if node is not None else ""
        try:
            ip = ipaddress.ip_address(address)
            usable = ip.version == 4 and not (ip.is_loopback or ip.is_unspecified)
        except ValueError:
            usable = False
        driver = self.networks.overlay_driver
        wanted = address if usable else ""
        changed = driver.data_path != wanted
        driver.data_path = wanted
        return changed

    async def _program_overlays(self, states: dict[str, OverlayState]) -> None:
        """Each swarm network here as the cluster state says (VXLAN peers, this node's
        load-balancer address)."""
        driver = self.networks.overlay_driver
        for network_id, state in states.items():
            try:
                doc = self.networks.get(network_id)
            except errors.NotFound:
                continue
            try:
                await asyncio.to_thread(driver.program, self.networks.info(doc),
                                        state.address if driver.data_path else "",
                                        list(state.peers))
            except errors.MinkeError as exc:
                log.error("overlay network %s: %s", doc["Name"], exc)

    async def _ensure_ingress(self) -> None:
        """Docker's ``ingress`` network, made once per swarm (at init): 10.0.0.0/24 unless
        that clashes with the host's routes or a network here; then one of minke's pools."""
        present = await self.store.view(
            lambda tx: any(n["Spec"].get("Ingress") for n in tx.list("network")))
        if present:
            return
        taken = [s.subnet for d in self.networks.all() for s in self.networks.subnets(d)]
        wanted = ipaddress.ip_network(INGRESS_SUBNET)
        clash = any(wanted.overlaps(n) for n in [*taken, *ipam.host_routes()]
                    if n.version == 4)
        body: Obj = {"Name": INGRESS_NAME, "Driver": "overlay",
                     "IPAM": {"Config": [] if clash else [{"Subnet": INGRESS_SUBNET}]}}
        with contextlib.suppress(errors.Conflict):
            await self.create_network(body, ingress=True)

    def addresses_in_use(self, network_id: str) -> set[str]:
        """The addresses of ``network_id`` the cluster state holds (tasks' attachments, the
        nodes' load-balancer addresses, VIPs), as of the last refresh: the engine keeps
        containers the swarm did not place off them."""
        return set(self._cluster_used.get(network_id, ()))

    async def ensure_local(self, network_ids: list[str]) -> None:
        """Before a task's container is made: its swarm networks exist on this node (a
        node may get a task before its own sync of a new network ran)."""
        missing = False
        for network_id in network_ids:
            try:
                self.networks.get(network_id)
            except errors.NotFound:
                missing = True
        if missing:
            await self.sync_networks()

    async def sync_networks(self) -> None:
        """Make this host's swarm networks those of the store; one the store no longer has
        stays (``leaving``, unlisted) while a container here is still on it."""
        async with self._sync_lock:
            stored = {n["ID"]: n for n in await self.store.view(lambda tx: tx.list("network"))}
            local = {d["Id"]: d for d in self.networks.all() if d.get("Scope") == "swarm"}
            self._reprogram = True  # a VXLAN device may have moved between networks
            self._wake.set()
            for network_id, obj in stored.items():
                if network_id not in local:
                    try:
                        await self._realise(obj)
                    except errors.MinkeError as exc:
                        log.error("network %s: %s", obj["Spec"]["Name"], exc)
            gone = {i: d for i, d in local.items() if i not in stored}
            self.networks.leaving = {i for i in gone
                                     if self.networks.endpoints_of(network_id=i)}
            for network_id, doc in gone.items():
                if network_id not in self.networks.leaving:
                    try:
                        await self.networks.remove_local(doc)
                    except errors.MinkeError as exc:
                        log.error("removing network %s: %s", doc["Name"], exc)

    # -- standalone containers on attachable networks -----------------------------------

    async def attach(self, container_id: str, network_id: str, aliases: list[str],
                     address: str = "") -> str:
        """The address (CIDR) the cluster gives a standalone container of this node on
        swarm network ``network_id``, through its attachment task (Docker's
        ``AttachNetwork``); ``address``: the one it asks for (``--ip``)."""
        task = await self.attacher.attach(container_id, network_id, aliases, address)
        for attachment in task.get("NetworksAttachments") or []:
            for cidr in attachment.get("Addresses") or []:
                if ":" not in cidr:
                    return str(cidr)
        raise errors.Unavailable(f"the attachment of {container_id[:12]} to network "
                                 f"{network_id} has no IPv4 address")

    async def detach(self, container_id: str, network_id: str | None = None) -> None:
        """The container left the network (``None``: all of them): its attachment
        task goes and the address is free."""
        await self.attacher.detach(container_id, network_id)

    async def _drop_stale_attachments(self) -> None:
        """The attachment tasks of this node whose container is gone or stopped (it
        stopped while the swarm was not running here): their addresses are freed."""
        mine = await self.store.view(lambda tx: tx.find("task", node_id=self.node_id))
        for task in mine:
            cid = t.attachment_container(task)
            if not cid:
                continue
            record = self.engine.containers.find(cid)
            # a container being started has its sandbox already: it is not stale
            if record is not None and (record["State"].get("Running")
                                       or record["NetworkSettings"].get("SandboxKey")):
                continue
            try:
                await self.attacher.detach(cid, None)
            except errors.MinkeError as exc:
                log.warning("releasing the attachment of gone container %s: %s",
                            cid[:12], exc)

    def _attachment_names(self, tasks: list[Obj], down: Collection[str]
                          ) -> dict[str, dict[str, list[str]]]:
        """Network ID → name → addresses of the standalone containers of other nodes
        (their attachment tasks' aliases: the container's name, its ``--network-alias``
        and short ID); this node's own are the engine's endpoints."""
        out: dict[str, dict[str, list[str]]] = {}
        for task in tasks:
            node = task.get("NodeID") or ""
            if not t.attachment_container(task) or t.has_ended(task) or \
                    not self.node_id or node == self.node_id or node in down:
                continue
            for attachment in task.get("NetworksAttachments") or []:
                ips = [c.split("/")[0] for c in attachment.get("Addresses") or []
                       if ":" not in c]
                table = out.setdefault((attachment.get("Network") or {}).get("ID", ""), {})
                for alias in attachment.get("Aliases") or []:
                    table.setdefault(alias.lower(), []).extend(ips)
        return out

    # -- balancing and names ------------------------------------------------------------

    async def take_out(self, task_id: str) -> None:
        """Before a task's container is stopped: no new connection goes to it. On a
        multi-node swarm the other nodes drop it from their balancing on the same store
        change (its desired state); the grace lets their rules land before the stop."""
        self.draining.add(task_id)
        await self.refresh()
        if self.networks.overlay_driver.data_path:
            await asyncio.sleep(TAKE_OUT_GRACE)

    def _ready(self, task: Obj, down: Collection[str] = ()) -> str:
        """The container ID of a task here that may take connections, the node ID of one
        on another node (not ``down``) that runs as wanted, or ""."""
        if task["ID"] in self.draining or task["Status"]["State"] != t.RUNNING or \
                task["DesiredState"] != t.RUNNING:
            return ""
        if self.node_id and task.get("NodeID", self.node_id) != self.node_id:
            return "" if task["NodeID"] in down else task["NodeID"]
        cid = (task["Status"].get("ContainerStatus") or {}).get("ContainerID") or ""
        record = self.engine.containers.find(cid) if cid else None
        if record is None or not record["State"].get("Running"):
            return ""
        health = (record["State"].get("Health") or {}).get("Status")
        return "" if health in ("starting", "unhealthy") else record["Id"]

    def _task_address(self, task: Obj, network_id: str) -> str:
        """A ready task's address on the network: its endpoint here, or for a task on
        another node the address the allocator gave it."""
        if self.node_id and task.get("NodeID", self.node_id) != self.node_id:
            return attachment_addresses(task).get(network_id, "")
        return self._address(
            (task["Status"].get("ContainerStatus") or {}).get("ContainerID") or "", network_id)

    def _local_container(self, task: Obj) -> str:
        """The container of a task on this node, "" for one elsewhere (the balancer)."""
        if self.node_id and task.get("NodeID", self.node_id) != self.node_id:
            return ""
        return (task["Status"].get("ContainerStatus") or {}).get("ContainerID") or ""

    def _host_ifnames(self, container_id: str) -> list[str]:
        return [e.host_ifname for e in self.networks.endpoints_of(container_id=container_id)
                if e.host_ifname]

    def _address(self, container_id: str, network_id: str) -> str:
        for endpoint in self.networks.endpoints_of(container_id=container_id,
                                                   network_id=network_id):
            if endpoint.ipv4:
                return endpoint.ipv4.split("/")[0]
        return ""

    async def _set_vips(self, services: list[Obj]) -> None:
        wanted: dict[str, set[str]] = {d["Id"]: set() for d in self.networks.all()
                                       if d.get("Scope") == "swarm"}
        for service in services:
            for vip in (service.get("Endpoint") or {}).get("VirtualIPs") or []:
                wanted.setdefault(vip["NetworkID"], set()).add(vip["Addr"].split("/")[0])
        for network_id, vips in wanted.items():
            try:
                doc = self.networks.get(network_id)
            except errors.NotFound:
                continue
            await asyncio.to_thread(self.networks.overlay_driver.set_vips,
                                    self.networks.info(doc), vips)

    async def refresh(self) -> None:
        """Recompute every service's backends and names; apply them if they changed."""
        async with self._lock:
            services, tasks, stored, nodes = await self.store.view(
                lambda tx: (tx.list("service"), tx.list("task"), tx.list("network"),
                            tx.list("node")))
            moved = self._set_data_path(nodes)
            down = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") == "down"}
            live = {x["ID"] for x in tasks if not t.has_ended(x)}
            self._networked = {x["ID"] for x in tasks if x.get("NetworksAttachments")}
            self.draining &= live
            rules: dict[str, ServiceRules] = {}
            names: dict[str, dict[str, Answer]] = {}
            balanced: dict[str, ServiceInfo] = {}
            for service in services:
                spec, endpoint = service["Spec"], service.get("Endpoint") or {}
                ready = [x for x in tasks
                         if x["ServiceID"] == service["ID"] and self._ready(x, down)]
                networks = [e["Target"] for e in spec["TaskTemplate"].get("Networks")
                            or spec.get("Networks") or []]
                vips = {v["NetworkID"]: v["Addr"].split("/")[0]
                        for v in endpoint.get("VirtualIPs") or []}
                backends, lb_backends = aligned(
                    ready, list(dict.fromkeys([*vips, *networks])), self._task_address,
                    self._local_container, self._host_ifnames)
                lb = lb_policy.of_service_or_default(spec)
                ingress_ports = tuple(
                    (p["Protocol"], p["PublishedPort"], p["TargetPort"])
                    for p in endpoint.get("Ports") or [] if p["PublishMode"] == "ingress")
                ingress_id = next((n for n in vips if n not in networks), "")
                rules[service["ID"]] = ServiceRules(
                    id=service["ID"],
                    vips=tuple((vip, backends[n]) for n, vip in vips.items()),
                    ports=ingress_ports, port_backends=backends.get(ingress_id, ()),
                    backend_ids=tuple(b.task_id for b in lb_backends), pick=lb.pick,
                    affinity=lb.affinity if lb.strategy == "source-hash" else 0)
                if vips or ingress_ports:
                    balanced[service["ID"]] = ServiceInfo(service["ID"], spec["Name"], lb,
                                                          lb_backends)
                name = spec["Name"].lower()
                for network_id in networks:
                    table = names.setdefault(network_id, {})
                    ips = list(backends[network_id])
                    table[name] = Answer([vips[network_id]] if network_id in vips
                                         else ips, [])
                    table["tasks." + name] = Answer(ips, [])
            for network_id, table in self._attachment_names(tasks, down).items():
                known = names.setdefault(network_id, {})
                for name, ips in table.items():
                    if name in known:  # a service's name too: both answer
                        ips = list(dict.fromkeys([*known[name].ipv4, *ips]))
                    known[name] = Answer(ips, [])
            self._cluster_used = {
                n["ID"]: used_addresses(services, tasks, n["ID"])
                | set(node_addresses(n).values()) for n in stored}
            overlays = plan(self.node_id, stored, tasks, nodes) \
                if self.networks.overlay_driver.data_path else {}
            if self._applied == (rules, names, overlays) and not moved and \
                    not self._reprogram:
                self.balancer.update(balanced)  # a new strategy, say: same rules
                return
            self._reprogram = False
            # Peers and this node's addresses first: the firewall source-NATs to them.
            await self._program_overlays(overlays)
            self.networks.service_rules.clear()
            self.networks.service_rules.update(rules)
            self.networks.service_names.clear()
            self.networks.service_names.update(names)
            self.networks.extension.names.rebuild()
            await self._set_vips(services)
            await self.networks.apply_firewall()
            # After the table: a backend the balancer lists (``service inspect``) is in the
            # kernel's maps, and weights are only ever written for services the table has.
            self.balancer.update(balanced)
            self._applied = (rules, names, overlays)
