"""A container's side of networking: its namespace, its endpoints, its published ports.

``NetworkExtension`` joins the container lifecycle (``ContainerExtension``): at create it
checks the network mode and the endpoint settings and records them in
``NetworkSettings.Networks``; at start it makes the namespace (``<exec-root>/netns/<id>``),
joins each network (addresses from IPAM, the driver's plumbing), publishes ports, starts
the embedded DNS and points the OCI spec at the namespace; at exit it undoes all of that.
``connect``/``disconnect`` do the same for one network of a running container.

A container that is not a swarm task gets its address on a swarm ``--attachable`` overlay
network from the cluster (``SwarmNetworks.attach``: an attachment task, Docker's
``AttachNetwork``), so other nodes reach it; it detaches when it leaves the network (stop,
failed start, ``network disconnect``), which frees the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke.engine.containers.extensions import ContainerExtension
from minke.engine.network import ipam, netns, portmap
from minke.engine.network.dns import DNSServer
from minke.engine.network.driver import BRIDGED, Endpoint
from minke.engine.network.firewall import PortRule
from minke.engine.network.names import NO_DISCOVERY, NameView
from minke.engine.network.nspool import NamespacePool
from minke.engine.network.vxlan import endpoint_mac
from minke.errors import (
    Conflict,
    Forbidden,
    InvalidParameter,
    MinkeError,
    NotFound,
    Unavailable,
)

if TYPE_CHECKING:
    from minke.engine.network.service import NetworkService

log = logging.getLogger(__name__)
Record = dict[str, Any]
RUNTIME_FIELDS = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                  "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                  "MacAddress": ""}
TOP_LEVEL = ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway",
             "GlobalIPv6Address", "GlobalIPv6PrefixLen", "MacAddress")


# On a swarm task's container (its executor sets it): task containers may join the swarm's
# networks, other containers only attachable ones.
SWARM_TASK_LABEL = "com.docker.swarm.task.id"


def _mode(record: Record) -> str:
    mode = record["HostConfig"].get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def _mac(ipv4: str) -> str:
    """Docker's MAC for an IPv4 endpoint: 02:42 and the address's four bytes (what other
    nodes of an overlay network derive from the address alone); random without one."""
    if ipv4:
        return endpoint_mac(ipv4)
    return "02:42:" + ":".join(f"{b:02x}" for b in os.urandom(4))


class NetworkExtension(ContainerExtension):
    def __init__(self, service: NetworkService) -> None:
        self.service = service
        self.names = NameView(service)
        self.dns = DNSServer(self.names)
        self.ports = portmap.PortAllocator()
        self._plumbing: dict[str, asyncio.Future[None]] = {}  # cid → prepare's background part
        self.pool = NamespacePool(service.netns_dir)
        self._attached: set[str] = set()  # containers that may hold attachment tasks

    def netns_path(self, container_id: str) -> Path:
        return self.service.netns_dir / container_id

    # -- create ---------------------------------------------------------------------------

    def _settings(self, doc: Record, config: dict[str, Any], record: Record) -> dict[str, Any]:
        """One entry of ``NetworkSettings.Networks``, its endpoint settings checked."""
        config = config or {}
        if doc.get("Scope") == "swarm" and not doc.get("Attachable") and \
                SWARM_TASK_LABEL not in (record["Config"].get("Labels") or {}):
            raise Forbidden(f"Could not attach to network {doc['Name']}: rpc error: code = "
                            f"PermissionDenied desc = network {doc['Name']} not manually "
                            "attachable")
        ipam_config = config.get("IPAMConfig") or None
        user_defined = doc["Name"] not in NO_DISCOVERY
        if ipam_config and (ipam_config.get("IPv4Address") or ipam_config.get("IPv6Address")):
            if not user_defined:
                raise InvalidParameter(
                    "user specified IP address is supported on user defined networks only")
            subnets = self.service.subnets(doc)
            for key in ("IPv4Address", "IPv6Address"):
                if ipam_config.get(key):
                    ipam.check_static(subnets, ipam_config[key])
        if config.get("Aliases") and not user_defined:
            raise InvalidParameter(
                "network-scoped alias is supported only for containers in user defined "
                "networks")
        return {"IPAMConfig": ipam_config, "Links": config.get("Links"),
                "Aliases": config.get("Aliases") or None, "NetworkID": doc["Id"],
                **RUNTIME_FIELDS, "DriverOpts": config.get("DriverOpts")}

    async def created(self, record: Record) -> None:
        portmap.requested(record)  # refuses malformed port bindings at create, as Docker
        mode = _mode(record)
        settings = record["NetworkSettings"]
        requested: dict[str, Any] = settings.get("Networks") or {}
        settings["Networks"] = {}
        if mode.startswith("container:"):
            other = self.service.containers.get(mode.split(":", 1)[1])
            if other["Id"] == record["Id"]:
                raise InvalidParameter("cannot join own network")
            return
        raw_mode = record["HostConfig"].get("NetworkMode") or "default"
        primary_config = next((requested.pop(k) for k in (raw_mode, mode) if k in requested),
                              {})
        try:
            primary = self.service.get(mode)
        except NotFound:
            # Docker creates the container and refuses at start ("network x not found"):
            # a 404 from create would make the docker CLI try to pull the image instead.
            settings["Networks"] = {mode: {"NetworkID": "", **RUNTIME_FIELDS}}
            return
        networks = {primary["Name"]: self._settings(
            primary, primary_config or requested.pop(primary["Id"], None) or {}, record)}
        for key, config in requested.items():
            doc = self.service.get(key)
            if primary["Name"] in ("host", "none") or doc["Name"] in ("host", "none"):
                raise InvalidParameter(
                    "Container cannot be connected to network endpoints: "
                    + ", ".join([primary["Name"], doc["Name"]]))
            networks[doc["Name"]] = self._settings(doc, config, record)
        settings["Networks"] = networks

    # -- start ----------------------------------------------------------------------------

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        mode = _mode(record)
        namespaces = spec["linux"]["namespaces"]
        if mode.startswith("container:"):
            other = self.service.containers.get(mode.split(":", 1)[1])
            if not other["State"]["Running"]:
                raise Conflict(f"cannot join network of a non running container: {other['Id']}")
            key = (other["NetworkSettings"].get("SandboxKey")
                   or f"/proc/{other['State']['Pid']}/ns/net")
            if _mode(other) == "host":
                namespaces[:] = [n for n in namespaces if n["type"] != "network"]
            else:
                self._set_netns(namespaces, key)
            return
        if mode == "host":
            return
        cid = record["Id"]
        path = self.netns_path(cid)
        await self.pool.take(path)
        try:
            self._set_netns(namespaces, str(path))
            settings = record["NetworkSettings"]
            settings.update(SandboxKey=str(path), SandboxID=cid, Ports={})
            docs = [self.service.get(name) for name in settings["Networks"]]
            # The network of --network first (eth0, default route), the rest by name.
            docs.sort(key=lambda d: (d["Name"] != mode, d["Name"]))
            assigned = await self._attach_swarm(record, docs)
            has_route = False
            endpoints = []
            for index, doc in enumerate(docs):
                wants_route = not has_route and not doc.get("Internal")
                endpoint = self._allocate(record, doc, f"eth{index}", wants_route,
                                          assigned.get(doc["Id"], ""))
                if endpoint is not None:
                    endpoints.append((doc, endpoint))
                    has_route = has_route or wants_route
            plumbing = asyncio.ensure_future(self._plumb_sandbox(record, endpoints))
            if any(key.startswith("net.") for key in spec["linux"].get("sysctl") or {}):
                await plumbing  # the runtime applies these in the namespace, maybe to eth0
            else:
                # The runtime's create needs only the namespace: the interfaces, ports and
                # DNS are made while it runs, and ``before_start`` waits for them.
                self._plumbing[cid] = plumbing
        except BaseException:
            await self._teardown(record)
            raise

    async def _plumb_sandbox(self, record: Record,
                             endpoints: list[tuple[Record, Endpoint]]) -> None:
        await self._plumb(record, endpoints)
        await self._publish(record)
        await self._dns(record)

    async def started(self, record: Record) -> None:
        self.pool.refill()  # now, not during the start: the 2 cores go to the runtime then

    async def before_start(self, record: Record) -> None:
        plumbing = self._plumbing.pop(record["Id"], None)
        if plumbing is not None:
            # shielded: a start cancelled meanwhile must not leave a join thread running
            # while the teardown that follows removes what it plumbs
            await asyncio.shield(plumbing)

    @staticmethod
    def _set_netns(namespaces: list[dict[str, Any]], path: str) -> None:
        for entry in namespaces:
            if entry["type"] == "network":
                entry["path"] = path
                return
        namespaces.append({"type": "network", "path": path})

    # -- swarm attachable networks --------------------------------------------------------

    @staticmethod
    def _attaches(record: Record, doc: Record) -> bool:
        """The container joins swarm network ``doc`` through an attachment task: it is no
        task of the swarm (tasks have their addresses from their own task)."""
        return doc.get("Scope") == "swarm" and doc["Driver"] in BRIDGED and \
            SWARM_TASK_LABEL not in (record["Config"].get("Labels") or {})

    async def _attach_swarm(self, record: Record, docs: list[Record]) -> dict[str, str]:
        """Network ID → the address (CIDR) the cluster gives the container on each swarm
        network of ``docs`` it attaches to; raises dockerd's "Could not attach to network"
        when the cluster cannot be asked or refuses."""
        out: dict[str, str] = {}
        cid = record["Id"]
        for doc in docs:
            if not self._attaches(record, doc):
                continue
            settings = record["NetworkSettings"]["Networks"][doc["Name"]]
            aliases = list(dict.fromkeys([record["Name"].lstrip("/"),
                                          *(settings.get("Aliases") or []), cid[:12]]))
            wanted = (settings.get("IPAMConfig") or {}).get("IPv4Address") or ""
            swarm = self.service.swarm
            try:
                if swarm is None:
                    raise Unavailable("this node is not in an active swarm")
                out[doc["Id"]] = await swarm.attach(cid, doc["Id"], aliases, wanted)
            except MinkeError as exc:
                raise type(exc)(f"Could not attach to network {doc['Name']}: "
                                f"{exc.message}") from exc
            self._attached.add(cid)
        return out

    async def _detach_swarm(self, container_id: str, network_id: str | None = None) -> None:
        """Give the container's attachment tasks back (on ``network_id``, or all); a
        failure is logged: the cluster frees them when this node is Down."""
        swarm = self.service.swarm
        if swarm is None:
            return
        try:
            await swarm.detach(container_id, network_id)
        except MinkeError as exc:
            log.warning("detaching %s from swarm network(s): %s", container_id[:12], exc)

    async def _join(self, record: Record, doc: Record, ifname: str,
                    default_route: bool, assigned: str = "") -> Endpoint | None:
        """Allocate addresses and plumb one endpoint; None for the ``null`` driver."""
        endpoint = self._allocate(record, doc, ifname, default_route, assigned)
        if endpoint is not None:
            await self._plumb(record, [(doc, endpoint)])
        return endpoint

    def _allocate(self, record: Record, doc: Record, ifname: str,
                  default_route: bool, assigned: str = "") -> Endpoint | None:
        """Addresses, MAC and id of one endpoint, saved and shown in the record at once (the
        hosts file needs them before the runtime creates the container); None for the
        ``null`` driver. ``assigned``: the IPv4 address (CIDR) the swarm gave it."""
        if doc["Driver"] not in BRIDGED:
            return None
        cid = record["Id"]
        settings = record["NetworkSettings"]["Networks"][doc["Name"]]
        requested = settings.get("IPAMConfig") or {}
        if assigned:  # the cluster's choice (it took ``--ip`` into account)
            requested = {**requested, "IPv4Address": assigned.split("/")[0]}
        # Chosen and saved with no await in between: concurrent starts never share an IP.
        used: set[Any] = set()
        for other in self.service.endpoints_of(network_id=doc["Id"]):
            used |= {ipaddress.ip_address(c.split("/")[0]) for c in (other.ipv4, other.ipv6) if c}
        if doc.get("Scope") == "swarm" and self.service.swarm is not None and \
                not requested.get("IPv4Address"):
            # A container the swarm did not place (attachable network): not on an address
            # the cluster gave a task, node or VIP elsewhere.
            used |= {ipaddress.ip_address(a)
                     for a in self.service.swarm.addresses_in_use(doc["Id"])}
        v4 = v6 = ""
        gw4 = gw6 = ""
        for subnet in self.service.subnets(doc):
            key = "IPv4Address" if subnet.version == 4 else "IPv6Address"
            wanted = ipaddress.ip_address(requested[key]) if requested.get(key) else None
            if wanted is not None and wanted not in subnet.subnet:
                continue
            if (v4 if subnet.version == 4 else v6):
                continue
            address = ipam.allocate(subnet, used, wanted)
            cidr = f"{address}/{subnet.subnet.prefixlen}"
            if subnet.version == 4:
                v4, gw4 = cidr, str(subnet.gateway)
            else:
                v6, gw6 = cidr, str(subnet.gateway)
        endpoint_id = os.urandom(32).hex()
        aliases = list(settings.get("Aliases") or [])
        if doc["Name"] not in NO_DISCOVERY and cid[:12] not in aliases:
            aliases.append(cid[:12])
        endpoint = Endpoint(
            id=endpoint_id, network_id=doc["Id"], container_id=cid, ifname=ifname,
            host_ifname="veth" + endpoint_id[:7], mac=_mac(v4), ipv4=v4, ipv6=v6,
            gateway4=gw4, gateway6=gw6, default_route=default_route, aliases=aliases)
        self.service.save_endpoint(endpoint)
        settings.update(
            EndpointID=endpoint.id, Gateway=gw4, IPAddress=v4.split("/")[0],
            IPPrefixLen=int(v4.split("/")[1]) if v4 else 0, IPv6Gateway=gw6,
            GlobalIPv6Address=v6.split("/")[0],
            GlobalIPv6PrefixLen=int(v6.split("/")[1]) if v6 else 0,
            MacAddress=endpoint.mac, Aliases=aliases or None)
        if doc["Name"] == "bridge":
            record["NetworkSettings"].update({k: settings[k] for k in TOP_LEVEL})
        return endpoint

    async def _plumb(self, record: Record, endpoints: list[tuple[Record, Endpoint]]) -> None:
        """The drivers' plumbing of allocated endpoints, in order. When one fails, it and
        those after it are dropped unplumbed (as if never allocated) and the error raised."""
        sandbox = Path(record["NetworkSettings"]["SandboxKey"])
        for index, (doc, endpoint) in enumerate(endpoints):
            try:
                await asyncio.to_thread(self.service.drivers[doc["Driver"]].join,
                                        self.service.info(doc), endpoint, sandbox)
            except BaseException:
                for dropped_doc, dropped in endpoints[index:]:
                    self.service.drop_endpoint(dropped)
                    entry = record["NetworkSettings"]["Networks"].get(dropped_doc["Name"])
                    if entry is not None:
                        entry.update(RUNTIME_FIELDS)
                raise
            self.service.event(doc, "connect", record["Id"])

    async def _publish(self, record: Record) -> None:
        cid = record["Id"]
        wanted = portmap.requested(record)
        primary = next((e for e in self.service.endpoints_of(container_id=cid)
                        if e.ifname == "eth0" and e.ipv4), None)
        if not wanted or primary is None:
            record["NetworkSettings"]["Ports"] = portmap.ports_view(record, [])
            return
        name = record["Name"].lstrip("/")
        bindings = self.ports.allocate(cid, f"{name} ({primary.id})", wanted)
        ip = primary.ipv4.split("/")[0]
        self.service.port_rules[cid] = [
            PortRule(b.proto, "" if b.host_ip == "0.0.0.0" else b.host_ip, b.host_port, ip,
                     b.container_port) for b in bindings]
        record["NetworkSettings"]["Ports"] = portmap.ports_view(record, bindings)
        await self.service.apply_firewall()

    async def _dns(self, record: Record) -> None:
        cid = record["Id"]
        if self.names.networks_of(cid):
            await self.dns.listen(cid, Path(record["NetworkSettings"]["SandboxKey"]))

    # -- exit -----------------------------------------------------------------------------

    async def start_failed(self, record: Record) -> None:
        await self._teardown(record)

    async def stopped(self, record: Record) -> None:
        await self._teardown(record)

    async def removed(self, record: Record, *, remove_volumes: bool = False) -> None:
        await self._teardown(record)

    async def _teardown(self, record: Record) -> None:
        """Undo ``prepare``: idempotent, and complete even when a step fails."""
        cid = record["Id"]
        path = self.netns_path(cid)
        plumbing = self._plumbing.pop(cid, None)
        if plumbing is not None:  # the start failed while plumbing ran: let it end first
            await asyncio.wait({plumbing})
            if not plumbing.cancelled():
                plumbing.exception()  # retrieved: the start reported its own error
        await self.dns.stop(cid)
        attached = cid in self._attached or any(
            self._attaches(record, doc) for doc in self._docs_of(cid))
        self._attached.discard(cid)
        for endpoint in self.service.endpoints_of(container_id=cid):
            # Interfaces inside a namespace that goes away are deleted by the kernel with it
            # (in the background): deleting each veth first would cost ~20 ms per exit.
            await self._leave(record, endpoint, unplug=not path.exists())
        if attached:
            await self._detach_swarm(cid)
        self.ports.release(cid)
        if self.service.port_rules.pop(cid, None):
            await self.service.apply_firewall()
        if path.exists():
            await asyncio.to_thread(netns.remove, path)
        settings = record["NetworkSettings"]
        if settings.get("SandboxKey") == str(path):
            settings.update(SandboxKey="", SandboxID="", Ports={}, **{
                k: RUNTIME_FIELDS[k] for k in TOP_LEVEL})

    def _docs_of(self, container_id: str) -> list[Record]:
        """The networks the container has endpoints on."""
        docs = []
        for endpoint in self.service.endpoints_of(container_id=container_id):
            with contextlib.suppress(MinkeError):
                docs.append(self.service.get(endpoint.network_id))
        return docs

    async def _leave(self, record: Record | None, endpoint: Endpoint,
                     unplug: bool = True) -> None:
        doc = None
        with contextlib.suppress(MinkeError):
            doc = self.service.get(endpoint.network_id)
        if doc is not None and unplug:
            try:
                await asyncio.to_thread(self.service.drivers[doc["Driver"]].leave,
                                        self.service.info(doc), endpoint)
            except MinkeError as exc:
                log.warning("leaving %s: %s", doc["Name"], exc)
        if doc is not None:
            self.service.event(doc, "disconnect", endpoint.container_id)
        self.service.drop_endpoint(endpoint)
        if record is not None and doc is not None:
            entry = (record["NetworkSettings"].get("Networks") or {}).get(doc["Name"])
            if entry is not None:
                entry.update(RUNTIME_FIELDS)

    # -- connect, disconnect --------------------------------------------------------------

    async def connect(self, ref: str, container: str, config: dict[str, Any]) -> None:
        doc = self.service.get(ref)
        record = self.service.containers.get(container)
        mode = _mode(record)
        if mode == "host" or doc["Name"] == "host":
            raise Forbidden("container cannot be disconnected from host network or connected "
                            "to host network")
        if mode == "none" or doc["Name"] == "none" or mode.startswith("container:"):
            raise Forbidden("container cannot be connected to multiple networks with one of "
                            "the networks in private (none) mode")
        networks = record["NetworkSettings"].setdefault("Networks", {})
        if doc["Name"] in networks:
            raise Forbidden(f"endpoint with name {record['Name'].lstrip('/')} already exists "
                            f"in network {doc['Name']}")
        networks[doc["Name"]] = self._settings(doc, config, record)
        try:
            if record["State"]["Running"]:
                used = {e.ifname for e in self.service.endpoints_of(container_id=record["Id"])}
                ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
                has_route = any(e.default_route for e in
                                self.service.endpoints_of(container_id=record["Id"]))
                assigned = await self._attach_swarm(record, [doc])
                try:
                    await self._join(record, doc, ifname,
                                     not has_route and not doc.get("Internal"),
                                     assigned.get(doc["Id"], ""))
                except BaseException:
                    if assigned:
                        await self._detach_swarm(record["Id"], doc["Id"])
                    raise
                await self._dns(record)
        except BaseException:
            networks.pop(doc["Name"], None)
            raise
        self.service.containers.save(record)

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        doc = self.service.get(ref)
        try:
            record = self.service.containers.get(container)
        except MinkeError:
            if not force:
                raise
            for endpoint in self.service.endpoints_of(network_id=doc["Id"]):
                if endpoint.container_id.startswith(container):
                    await self._leave(None, endpoint)
            return
        if _mode(record) == "host" or doc["Name"] == "host":
            raise Forbidden("container cannot be disconnected from host network or connected "
                            "to host network")
        networks = record["NetworkSettings"].get("Networks") or {}
        if doc["Name"] not in networks:
            raise Forbidden(f"container {record['Id']} is not connected to network "
                            f"{doc['Name']}")
        for endpoint in self.service.endpoints_of(network_id=doc["Id"],
                                                  container_id=record["Id"]):
            await self._leave(record, endpoint)
        if self._attaches(record, doc) and record["State"]["Running"]:
            await self._detach_swarm(record["Id"], doc["Id"])
        del networks[doc["Name"]]
        if not self.names.networks_of(record["Id"]):
            await self.dns.stop(record["Id"])
        self.service.containers.save(record)

    # -- daemon restart -------------------------------------------------------------------

    async def close(self) -> None:
        """Stop serving DNS and remove the spare namespace (containers keep theirs)."""
        await self.dns.close()
        await self.pool.close()

    async def recover(self) -> None:
        """After a daemon restart: drop endpoints of containers that are gone, and for the
        running ones hold their host ports again, rebuild their DNAT rules and serve DNS."""
        containers = self.service.containers
        await self.pool.reset()
        self.names.rebuild()  # here, not at construction: it needs the container records
        for endpoint in list(self.service.endpoints.values()):
            record = containers.find(endpoint.container_id)
            if record is None or not record["State"]["Running"]:
                await self._leave(record, endpoint)
        for record in containers.all():
            if not record["State"]["Running"]:
                path = self.netns_path(record["Id"])
                if path.exists():
                    await asyncio.to_thread(netns.remove, path)
                continue
            bindings = portmap.from_view(record["NetworkSettings"].get("Ports"))
            primary = next((e for e in self.service.endpoints_of(container_id=record["Id"])
                            if e.ifname == "eth0" and e.ipv4), None)
            if bindings and primary is not None:
                self.ports.hold(record["Id"], bindings)
                self.service.port_rules[record["Id"]] = [
                    PortRule(b.proto, "" if b.host_ip == "0.0.0.0" else b.host_ip, b.host_port,
                             primary.ipv4.split("/")[0], b.container_port) for b in bindings]
            if record["NetworkSettings"].get("SandboxKey") and \
                    Path(record["NetworkSettings"]["SandboxKey"]).exists():
                try:
                    await self._dns(record)
                except (MinkeError, OSError) as exc:
                    log.warning("DNS of %s: %s", record["Id"][:12], exc)
