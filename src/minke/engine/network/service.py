"""``NetworkService``: the networks of one daemon and the endpoints on them.

Owns the network records (Docker's NetworkResource, in the ``networks`` table), the
endpoints (one per running container and network, in the ``endpoints`` table: the IPAM
allocations, so that they survive a daemon restart), the predefined ``bridge``, ``host``
and ``none`` networks, and the per-daemon firewall table. Container lifecycle work (the
namespace, joining at start, leaving at exit, connect/disconnect) is in ``sandbox.py``;
answers of the embedded DNS come from ``names.py``; the Docker JSON shapes from ``views.py``.

The default bridge is claimed for the daemon's lifetime (``ownership.py``): a second daemon
on the same bridge name refuses to start. Stopping minked leaves bridges, addresses and the
firewall table in place (live restore, and Docker keeps docker0 too); ``clean_host`` is
``minked --cleanup``: it takes off the host what the daemon made, and nothing else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from minke.engine.containers.config import rfc3339
from minke.engine.events import EventBus
from minke.engine.network import ipam, netns, views
from minke.engine.network.dns import Answer
from minke.engine.network.driver import BRIDGED, Endpoint, NetworkDriver, NetworkInfo
from minke.engine.network.drivers import BridgeDriver, HostDriver, NullDriver, OverlayDriver
from minke.engine.network.firewall import BridgeRules, Firewall, PortRule, ServiceRules
from minke.engine.network.ownership import BridgeClaim, holder, host_lock
from minke.engine.network.sandbox import SWARM_TASK_LABEL, NetworkExtension
from minke.engine.state import StateDB
from minke.errors import (
    Conflict,
    Forbidden,
    InternalError,
    InvalidParameter,
    MinkeError,
    NotFound,
    Unavailable,
)

log = logging.getLogger(__name__)
Record = dict[str, Any]
PREDEFINED = ("bridge", "host", "none")

# dockerd's words (the swarm's NOT_A_MANAGER) for a swarm-scoped network outside a swarm.
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again.')
DEFAULT_BRIDGE = "minke0"
OPT_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_HOST_IP = "com.docker.network.bridge.host_binding_ipv4"


def _truthy(value: str | None, default: bool = True) -> bool:
    return default if value is None else value.lower() in ("1", "true", "yes")


class NetworkService:
    """Networks and endpoints of one daemon. ``containers`` is set by the Engine."""

    def __init__(self, *, db: StateDB, events: EventBus, data_root: Path, exec_root: Path,
                 bridge: str = DEFAULT_BRIDGE, bip: str = "") -> None:
        self._db = db
        self._events = events
        self.netns_dir = exec_root / "netns"
        self.default_bridge = bridge
        self._bip = bip
        self.bridge_driver = BridgeDriver(data_root)
        self.overlay_driver = OverlayDriver(data_root)
        self.drivers: dict[str, NetworkDriver] = {
            d.name: d for d in (self.bridge_driver, self.overlay_driver, HostDriver(),
                                NullDriver())}
        self.firewall = Firewall(bridge)
        self._claim = BridgeClaim(bridge, data_root)
        self._fw_lock = asyncio.Lock()
        self.containers: Any = None
        self._networks: dict[str, Record] = {d["Id"]: d for d in db.all_docs("networks")}
        self.endpoints: dict[str, Endpoint] = {
            d["id"]: Endpoint.from_doc(d) for d in db.all_docs("endpoints")}
        self.port_rules: dict[str, list[PortRule]] = {}  # container id → its DNAT rules
        # The swarm's networking while this node is an active manager (minke.swarm.agent.
        # networks.SwarmNetworks): swarm-scoped networks are created and removed through it,
        # and it sets ``service_rules`` (service id → VIP and ingress balancing).
        self.swarm: Any = None
        self.leaving: set[str] = set()  # swarm networks out of the store, here until unused
        self.service_rules: dict[str, ServiceRules] = {}
        self.service_names: dict[str, dict[str, Answer]] = {}  # network id → name → addresses
        # The container lifecycle's side; Engine appends it to the container extensions.
        self.extension = NetworkExtension(self)
        events.listen(self.extension.names.on_event)  # renames, for the DNS view

    # -- records --------------------------------------------------------------------------

    def _save(self, doc: Record) -> None:
        with self._db.transaction() as db:
            db.execute("INSERT INTO networks(id, name, doc) VALUES(?,?,?) ON CONFLICT(id) DO "
                       "UPDATE SET name=excluded.name, doc=excluded.doc",
                       (doc["Id"], doc["Name"], json.dumps(doc)))
        self._networks[doc["Id"]] = doc

    def save_endpoint(self, endpoint: Endpoint) -> None:
        with self._db.transaction() as db:
            db.execute("INSERT INTO endpoints(id, network_id, container_id, doc) "
                       "VALUES(?,?,?,?) ON CONFLICT(id) DO UPDATE SET doc=excluded.doc",
                       (endpoint.id, endpoint.network_id, endpoint.container_id,
                        json.dumps(endpoint.to_doc())))
        self.endpoints[endpoint.id] = endpoint
        self.extension.names.endpoint_changed(endpoint)

    def drop_endpoint(self, endpoint: Endpoint) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM endpoints WHERE id=?", (endpoint.id,))
        self.endpoints.pop(endpoint.id, None)
        self.extension.names.endpoint_changed(endpoint)
        if endpoint.network_id in self.leaving and self.swarm is not None:
            self.swarm.endpoint_left()  # a removed swarm network may go from this host now

    def get(self, ref: str) -> Record:
        """By full id, exact name, then unique id prefix (Docker's order)."""
        if ref in self._networks:
            return self._networks[ref]
        for doc in self._networks.values():
            if doc["Name"] == ref:
                return doc
        matches = [d for d in self._networks.values() if ref and d["Id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(matches)} matches found on id)")
        raise NotFound(f"network {ref} not found")

    def all(self) -> list[Record]:
        return list(self._networks.values())

    def info(self, doc: Record) -> NetworkInfo:
        return network_info(doc)

    def subnets(self, doc: Record) -> list[ipam.Subnet]:
        return [ipam.Subnet.from_docker(c) for c in doc["IPAM"]["Config"] or []]

    def endpoints_of(self, *, network_id: str | None = None,
                     container_id: str | None = None) -> list[Endpoint]:
        return [e for e in self.endpoints.values()
                if (network_id is None or e.network_id == network_id)
                and (container_id is None or e.container_id == container_id)]

    def _taken_subnets(self) -> list[ipam.Network]:
        return [s.subnet for doc in self._networks.values() for s in self.subnets(doc)]

    # -- start-up -------------------------------------------------------------------------

    async def start(self) -> None:
        """Make sure the predefined networks exist and every bridge is up, then rebuild the
        firewall table (it survives a restart, but its inputs may have changed)."""
        for name, driver in (("host", "host"), ("none", "null")):
            if not any(d["Name"] == name for d in self._networks.values()):
                self._save(views.new_network(name, driver, ipam_config=[],
                                             created=rfc3339()))
        await asyncio.to_thread(self._ensure_default_bridge)
        for doc in list(self._networks.values()):
            if doc["Driver"] in BRIDGED and doc["Name"] != "bridge":
                try:
                    if "_Created" not in doc:  # recorded before bridges were marked
                        await asyncio.to_thread(self.bridge_driver.mark_legacy,
                                                doc["_Interface"])
                        self._save({**doc, "_Created": True})
                    await asyncio.to_thread(self.drivers[doc["Driver"]].restore,
                                            self.info(doc))
                except MinkeError as exc:
                    # One lost network must not keep the daemon down; joining it fails.
                    log.error("network %s is not usable: %s", doc["Name"], exc)
        await self.extension.recover()
        await self.apply_firewall()

    async def close(self) -> None:
        """Stop serving DNS and let go of the default bridge's claim; namespaces, bridges
        and rules stay (live restore)."""
        await self.extension.close()
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        with host_lock():
            self._claim.release()
        self.bridge_driver.close()
        self.overlay_driver.close()

    def _ensure_default_bridge(self) -> None:
        """Claim the default bridge and make or adopt it (``BridgeDriver.setup_default``),
        then record what it is: its address is the default network's subnet."""
        if self._bip:
            try:
                ipaddress.ip_interface(self._bip)
            except ValueError:
                raise InvalidParameter(f"invalid --bip {self._bip!r}: expected an "
                                       "address/prefix such as 10.77.0.1/24") from None
        existing = next((d for d in self._networks.values() if d["Name"] == "bridge"), None)
        recorded = ""
        if existing and existing.get("_Interface") == self.default_bridge and \
                existing["IPAM"]["Config"]:
            entry = existing["IPAM"]["Config"][0]
            recorded = f"{entry['Gateway']}/{ipaddress.ip_network(entry['Subnet']).prefixlen}"
        others = [s.subnet for d in self._networks.values() if d is not existing
                  for s in self.subnets(d)]

        def pick() -> str:
            subnet = ipam.default_subnet(others)
            return f"{next(subnet.hosts())}/{subnet.prefixlen}"

        with host_lock():
            self._claim.acquire()
            previous = self._claim.previous
            if previous is None and existing is not None and recorded and \
                    "_Created" not in existing:
                # Recorded before minke marked and claimed bridges: ours, from an upgrade.
                self.bridge_driver.mark_legacy(self.default_bridge)
            bridge = self.bridge_driver.setup_default(
                self.default_bridge, bip=self._bip, recorded=recorded,
                previous_root=previous.data_root if previous else None, pick=pick,
                firewall_users=self.firewall.users_of)
            self._claim.record()
        entry = {"Subnet": bridge.subnet, "Gateway": bridge.gateway}
        if existing is not None and existing["IPAM"]["Config"] != [entry] and \
                self.endpoints_of(network_id=existing["Id"]):
            raise Conflict(
                f"bridge {self.default_bridge} has the address {bridge.gateway} of "
                f"{bridge.subnet}, but containers of this daemon are on "
                f"{existing['IPAM']['Config'][0]['Subnet']}: give the bridge its address back "
                "or remove those containers")
        doc = views.new_network(
            "bridge", "bridge", ipam_config=[entry],
            created=existing["Created"] if existing else rfc3339(),
            network_id=existing["Id"] if existing else None,
            options={"com.docker.network.bridge.default_bridge": "true",
                     OPT_ICC: "true", OPT_MASQ: "true", OPT_HOST_IP: "0.0.0.0",
                     OPT_NAME: self.default_bridge, OPT_MTU: "1500"})
        doc.update(_Interface=self.default_bridge, _Bip=self._bip, _Created=bridge.created,
                   _AddedAddress=bridge.added)
        self._save(doc)
        self.firewall.allow_in_docker_forward(self.default_bridge)

    # -- create, remove -------------------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> Record:
        name = body.get("Name") or ""
        if not name:
            raise InvalidParameter("network name is empty: a name is required")
        if any(d["Name"] == name for d in self._networks.values()):
            raise Conflict(f"network with name {name} already exists")
        if (body.get("Driver") or "bridge") == "overlay" or body.get("Scope") == "swarm":
            if self.swarm is None:
                raise Unavailable(NOT_A_MANAGER)
            return await self.swarm.create_network(body)
        return await self.create_local(body)

    async def create_local(self, body: dict[str, Any], *, network_id: str | None = None,
                           scope: str = "local", ingress: bool = False,
                           ipam_config: list[dict[str, Any]] | None = None) -> Record:
        """Make a network on this host. The swarm realises its networks with this, giving
        their cluster-wide id, ``scope`` "swarm" and the IPAM config its manager chose."""
        name = body.get("Name") or ""
        driver_name = body.get("Driver") or "bridge"
        driver = self.drivers.get(driver_name)
        if driver is None:
            raise NotFound(f'plugin "{driver_name}" not found')
        if not driver.user_defined:
            raise Forbidden(f'only one instance of "{driver_name}" network is allowed')
        ipam_body = body.get("IPAM") or {}
        if (ipam_body.get("Driver") or "default") != "default":
            raise NotFound(f'plugin "{ipam_body["Driver"]}" not found')
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        network_id = network_id or os.urandom(32).hex()
        iface = options.get(OPT_NAME) or f"mk-{network_id[:12]}"
        if any(d.get("_Interface") == iface for d in self._networks.values()):
            raise Conflict(f"bridge name {iface} is used by another network")

        def make() -> Record:
            with host_lock():
                subnets = [ipam.Subnet.from_docker(c) for c in ipam_config] \
                    if ipam_config is not None else self.plan_subnets(body, network_id)
                doc = views.new_network(
                    name, driver_name, ipam_config=[s.to_docker() for s in subnets],
                    created=rfc3339(), network_id=network_id, options=options,
                    internal=bool(body.get("Internal")),
                    attachable=bool(body.get("Attachable")),
                    ipv6=any(s.version == 6 for s in subnets),
                    labels=body.get("Labels") or {}, ipam_options=ipam_body.get("Options"))
                doc.update(Scope=scope, Ingress=ingress)
                doc["_Interface"] = iface
                doc["_Created"] = True  # the bridge is made, never adopted: see create()
                driver.create(self.info(doc))
                return doc

        doc = await asyncio.to_thread(make)
        try:
            self._save(doc)
            await asyncio.to_thread(self.firewall.allow_in_docker_forward, iface)
            await self.apply_firewall()
        except BaseException:
            await self._destroy(doc)
            raise
        self._event(doc, "create")
        return doc

    def plan_subnets(self, body: dict[str, Any], network_id: str) -> list[ipam.Subnet]:
        """The subnets a new network gets: those asked for, checked, or a free pool."""
        return ipam.build_config(
            list((body.get("IPAM") or {}).get("Config") or []), taken=self._taken_subnets(),
            ipv6=bool(body.get("EnableIPv6")), network_id=network_id)

    async def remove(self, ref: str) -> None:
        doc = self.get(ref)
        if doc["Name"] in PREDEFINED:
            raise Forbidden(f"{doc['Name']} is a pre-defined network and cannot be removed")
        if doc.get("Scope") == "swarm":
            if self.swarm is None:
                raise Unavailable(NOT_A_MANAGER)
            # Refused while a service or a standalone container (attachable) uses it; the
            # containers of tasks still stopping hold only the local copy, which goes with
            # their last endpoint (SwarmKit's RemoveNetwork).
            await self.swarm.remove_network(
                doc, lambda: self._check_unused(doc, but_tasks=True))
            return
        self._check_unused(doc)
        await self.remove_local(doc)

    def _check_unused(self, doc: Record, *, but_tasks: bool = False) -> None:
        if any(not (but_tasks and self._is_task(e.container_id))
               for e in self.endpoints_of(network_id=doc["Id"])):
            raise Forbidden(f"error while removing network: network {doc['Name']} id "
                            f"{doc['Id']} has active endpoints")

    def _is_task(self, container_id: str) -> bool:
        record = self.containers.find(container_id) if self.containers else None
        return record is not None and SWARM_TASK_LABEL in (record["Config"].get("Labels") or {})

    async def remove_local(self, doc: Record) -> None:
        """Take a network off this host (the swarm's, when it is removed or the node leaves)."""
        await self._destroy(doc)
        self._event(doc, "destroy")

    async def _destroy(self, doc: Record) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM networks WHERE id=?", (doc["Id"],))
        self._networks.pop(doc["Id"], None)
        # At once: rules that name a bridge being deleted are harmless, and deleting a bridge
        # costs the kernel tens of ms that the nft runs can overlap.
        outcomes = await asyncio.gather(
            self.apply_firewall(),
            asyncio.to_thread(self.firewall.remove_from_docker_forward, doc["_Interface"]),
            asyncio.to_thread(self.drivers[doc["Driver"]].delete, self.info(doc)),
            return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def prune(self, filters: dict[str, list[str]]) -> list[str]:
        views.check_prune_filters(filters)
        used = {name for record in (self.containers.all() if self.containers else [])
                for name in (record["NetworkSettings"].get("Networks") or {})}
        deleted = []
        for doc in list(self._networks.values()):
            if doc["Name"] in PREDEFINED or doc["Name"] in used or doc.get("Scope") == "swarm":
                continue
            if self.endpoints_of(network_id=doc["Id"]) or not views.prune_match(doc, filters):
                continue
            await self._destroy(doc)
            self._event(doc, "destroy")
            deleted.append(doc["Name"])
        return deleted

    # -- containers -----------------------------------------------------------------------

    async def connect(self, ref: str, container: str, config: dict[str, Any]) -> None:
        """Attach a container (running or not) to a network, with aliases and a static IP."""
        await self.extension.connect(ref, container, config)

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        await self.extension.disconnect(ref, container, force)

    def counters(self, container_id: str) -> dict[str, dict[str, int]]:
        """Interface counters of a running container (``stats``' ``networks``)."""
        record = self.containers.get(container_id)
        pid = int(record["State"].get("Pid") or 0)
        return netns.interface_counters(pid) if pid else {}

    # -- views ----------------------------------------------------------------------------

    def inspect(self, ref: str) -> Record:
        return views.resource(self.get(ref), self.endpoints_of(network_id=self.get(ref)["Id"]),
                              self._container_name)

    def list(self, filters: dict[str, list[str]]) -> list[Record]:
        views.check_list_filters(filters)
        return [views.resource(doc, self.endpoints_of(network_id=doc["Id"]),
                               self._container_name, with_containers=False)
                for doc in self._networks.values()
                if doc["Id"] not in self.leaving and views.list_match(doc, filters, self)]

    def _container_name(self, container_id: str) -> str:
        record = self.containers.find(container_id) if self.containers else None
        return record["Name"].lstrip("/") if record else ""

    def _event(self, doc: Record, action: str, **extra: str) -> None:
        self._events.publish("network", action, doc["Id"],
                             {"name": doc["Name"], "type": doc["Driver"], **extra})

    def event(self, doc: Record, action: str, container_id: str) -> None:
        self._event(doc, action, container=container_id)

    # -- firewall -------------------------------------------------------------------------

    async def apply_firewall(self) -> None:
        """Rewrite the daemon's table from the networks and published ports now known."""
        async with self._fw_lock:
            bridges = []
            for doc in self._networks.values():
                if doc["Driver"] not in BRIDGED:
                    continue
                options = doc.get("Options") or {}
                subnets = self.subnets(doc)
                bridges.append(BridgeRules(
                    bridge=doc["_Interface"],
                    subnets4=tuple(str(s.subnet) for s in subnets if s.version == 4),
                    subnets6=tuple(str(s.subnet) for s in subnets if s.version == 6),
                    internal=bool(doc.get("Internal")),
                    masquerade=_truthy(options.get(OPT_MASQ)),
                    icc=_truthy(options.get(OPT_ICC)),
                    snat_to=self.overlay_driver.address(doc["Id"])))
            ports = [rule for rules in self.port_rules.values() for rule in rules]
            await asyncio.to_thread(self.firewall.apply, bridges, ports,
                                    list(self.service_rules.values()))

    async def set_lb_weights(self, changes: dict[str, dict[str, float]],
                             flush_affinity: dict[str, tuple[str, ...]] | None = None) -> None:
        """The load balancer's new weights, written in place (``Firewall.set_weights``),
        never interleaved with a rebuild of the table."""
        async with self._fw_lock:
            await asyncio.to_thread(self.firewall.set_weights, changes, flush_affinity)


def network_info(doc: Record) -> NetworkInfo:
    """What a driver needs of a stored network record."""
    options = doc.get("Options") or {}
    return NetworkInfo(
        id=doc["Id"], name=doc["Name"], driver=doc["Driver"],
        interface=doc.get("_Interface", ""),
        subnets=[(c["Subnet"], c["Gateway"]) for c in doc["IPAM"]["Config"] or []],
        internal=bool(doc.get("Internal")), options=options,
        mtu=int(options.get(OPT_MTU) or 1500),
    )


def _stored_networks(db: Path) -> list[Record]:
    """The network records of a daemon's database, read without changing it."""
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return [json.loads(doc) for (doc,) in conn.execute("SELECT doc FROM networks")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise InternalError(f"reading the networks of {db}: {exc}") from exc


def clean_host(data_root: Path, bridge: str = DEFAULT_BRIDGE) -> None:
    """``minked --cleanup``: take off the host what the (stopped) daemon on ``data_root``
    with default bridge ``bridge`` put there: the bridges it made (containers still on them
    lose their network), the address it added to a bridge it adopted, its firewall table
    and its rules in Docker's chains. Bridges it did not make stay. Refused with Conflict
    while a daemon holds ``bridge``."""
    docs = _stored_networks(data_root / "minke.db")
    driver = BridgeDriver(data_root)
    firewall = Firewall(bridge)
    claim = BridgeClaim(bridge, data_root)
    try:
        with host_lock():
            try:
                claim.acquire()
            except Conflict:
                running = holder(bridge)
                raise Conflict(f"bridge {bridge} is in use by "
                               f"{running.describe() if running else 'a running minked'}: "
                               "stop it before cleaning up") from None
            default = next((d for d in docs if d["Name"] == "bridge"
                            and d.get("_Interface") == bridge), None)
            for doc in docs:
                if doc["Driver"] not in BRIDGED or not doc.get("_Interface"):
                    continue
                if "_Created" not in doc and (doc is not default or claim.previous is None):
                    driver.mark_legacy(doc["_Interface"])  # made before bridges were marked
                if doc is not default:
                    firewall.remove_from_docker_forward(doc["_Interface"])
                    driver.delete(network_info(doc))
            ours = driver.release_default(
                bridge, added=(default or {}).get("_AddedAddress") or "")
            if ours:
                firewall.remove_from_docker_forward(bridge)
                firewall.delete()
            previous = claim.previous
            claim.release(forget=previous is None or previous.data_root == str(data_root))
    finally:
        driver.close()
