"""The ``bridge`` driver: a Linux bridge per network and a veth pair per container, made
through netlink (pyroute2).

Owns the bridge device (its gateway addresses, MTU, ``route_localnet`` so that DNAT from
127.0.0.1 can be routed to it) and the veth pairs: the host end is enslaved to the bridge,
the other end is created directly inside the container's namespace under its final name
(eth0, eth1, ...) and configured there by a thread that entered the namespace.

A bridge minke creates carries its mark (``ownership.mark``); the driver deletes only
bridges with its own daemon's mark, and never uses a bridge another program or another
minked made for a user-defined network. The default bridge is Docker's ``docker0``: an
existing one is adopted with the IPv4 address it has, and no second subnet is ever added.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minke.engine.network import netns
from minke.engine.network.driver import Endpoint, NetworkDriver, NetworkInfo
from minke.engine.network.ownership import mark, marked_root
from minke.errors import Conflict, InternalError, InvalidParameter

log = logging.getLogger(__name__)

IFA_F_NODAD = 0x02  # IPv6 addresses usable at once, without duplicate-address detection
PORTS_SETTLE_S = 3.0  # how long a dying namespace's veth may stay on a bridge


def _netlink_error(what: str, exc: Exception) -> InternalError:
    return InternalError(f"{what}: {exc}")


def _sysctl(path: str, value: str) -> None:
    try:
        Path("/proc/sys", path).write_text(value)
    except OSError as exc:
        raise InternalError(f"sysctl {path}={value}: {exc}") from exc


def _enable_forwarding(ifname: str) -> None:
    # Forwarding is what makes a bridge network reach anything beyond itself (Docker
    # turns it on too); route_localnet lets DNAT of 127.0.0.1 be routed to the bridge.
    _sysctl("net/ipv4/ip_forward", "1")
    _sysctl(f"net/ipv4/conf/{ifname}/route_localnet", "1")


@dataclass
class Device:
    """What is on the host under a bridge's name."""

    index: int
    kind: str  # "bridge", "veth", "" for a plain device
    alias: str  # the ifalias: minke's mark on a bridge it made
    ipv4: list[str] = field(default_factory=list)  # address/prefix, primary first
    ports: list[str] = field(default_factory=list)  # the interfaces enslaved to it


@dataclass
class DefaultBridge:
    """The default bridge as the daemon found or made it."""

    subnet: str
    gateway: str
    created: bool  # minke made the device: the daemon may delete it
    added: str = ""  # address/prefix this daemon put on a device minke did not make


def _describe_owner(ifname: str, device: Device) -> str:
    root = marked_root(device.alias)
    if root is not None:
        return f"bridge {ifname} belongs to the minked with data root {root}"
    return f"bridge {ifname} exists already and was not made by minke (another program manages it)"


class BridgeDriver(NetworkDriver):
    name = "bridge"
    own_namespace = True
    user_defined = True

    def __init__(self, data_root: Path) -> None:
        # One netlink socket in the host namespace, shared by the service's worker threads.
        self._lock = threading.Lock()
        self._ipr: Any = None
        self._root = str(data_root)
        self._mark = mark(data_root)
        # Bridges this daemon made or checked this run; join refuses any other.
        self._managed: set[str] = set()

    def _host(self) -> Any:
        if self._ipr is None:
            from pyroute2 import IPRoute  # imported on first use: it costs ~0.5 s

            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        with self._lock:
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None

    def _index(self, ifname: str) -> int | None:
        return _index_of(ifname)

    def _probe(self, ifname: str) -> Device | None:
        ipr = self._host()
        index = self._index(ifname)
        if index is None:
            return None
        link = ipr.get_links(index)[0]
        info = link.get_attr("IFLA_LINKINFO")
        kind = (info.get_attr("IFLA_INFO_KIND") if info is not None else None) or ""
        ipv4 = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in ipr.get_addr(index=index, family=2)]
        ports = [p.get_attr("IFLA_IFNAME") for p in ipr.link("dump", master=index)]
        return Device(index, kind, link.get_attr("IFLA_IFALIAS") or "", ipv4, ports)

    def _alias(self, ifname: str) -> str | None:
        """The ifalias of ``ifname`` (minke's mark on a bridge it made), None without such a
        device: two small requests, where ``_probe`` also dumps every link of the host to
        find the ports (tens of ms with many containers about, on ``network rm``'s path)."""
        index = self._index(ifname)
        if index is None:
            return None
        return str(self._host().get_links(index)[0].get_attr("IFLA_IFALIAS") or "")

    def probe(self, ifname: str) -> Device | None:
        with self._lock:
            return self._probe(ifname)

    # -- networks -------------------------------------------------------------------------

    def create(self, network: NetworkInfo) -> None:
        """A new user-defined network's bridge. An existing device of that name is refused,
        unless it is a leftover of this daemon's (the service knows no network uses it)."""
        if len(network.interface) > 15:
            raise InvalidParameter(
                f"bridge name {network.interface!r} is longer than 15 characters")
        with self._lock:
            found = self._probe(network.interface)
            if found is not None:
                if found.alias != self._mark:
                    raise Conflict(
                        f"{_describe_owner(network.interface, found)}: minke uses for a "
                        "network only a bridge it makes itself; choose another "
                        "com.docker.network.bridge.name")
                self._delete_locked(network.interface)
            self._make_locked(network.interface, network.mtu)
            self._configure_locked(network)

    def restore(self, network: NetworkInfo) -> None:
        """After a restart: remake a missing bridge; keep ours; refuse one that is now
        someone else's (it was deleted and remade while this daemon was down)."""
        with self._lock:
            found = self._probe(network.interface)
            if found is None:
                self._make_locked(network.interface, network.mtu)
            elif found.alias != self._mark:
                raise Conflict(f"network {network.name}: "
                               f"{_describe_owner(network.interface, found)}")
            self._configure_locked(network)

    def _make_locked(self, ifname: str, mtu: int) -> None:
        from pyroute2 import NetlinkError

        try:
            self._host().link("add", ifname=ifname, kind="bridge", mtu=mtu)
            self._host().link("set", index=self._index(ifname), ifalias=self._mark)
        except NetlinkError as exc:
            self._delete_locked(ifname)
            raise _netlink_error(f"creating bridge {ifname}", exc) from exc

    def _configure_locked(self, network: NetworkInfo) -> None:
        """Gateway addresses and link up on a bridge this daemon manages."""
        from pyroute2 import NetlinkError

        try:
            index = self._index(network.interface)
            for subnet, gateway in network.subnets:
                self._add_address(index, f"{gateway}/{ipaddress.ip_network(subnet).prefixlen}")
            self._host().link("set", index=index, state="up")
        except NetlinkError as exc:
            raise _netlink_error(f"configuring bridge {network.interface}", exc) from exc
        self._managed.add(network.interface)
        _enable_forwarding(network.interface)

    def _add_address(self, index: int, cidr: str) -> None:
        from pyroute2 import NetlinkError

        address, _, prefix = cidr.partition("/")
        extra = {"flags": IFA_F_NODAD} if ":" in address else {}
        try:
            self._host().addr("add", index=index, address=address, prefixlen=int(prefix),
                              **extra)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise

    def mark_legacy(self, ifname: str) -> None:
        """Mark as ours an unmarked bridge that this daemon's records say it made before
        minke marked its bridges (an upgrade with containers still running)."""
        from pyroute2 import NetlinkError

        with self._lock:
            found = self._probe(ifname)
            if found is None or found.kind != "bridge" or marked_root(found.alias):
                return
            try:
                self._host().link("set", index=found.index, ifalias=self._mark)
            except NetlinkError as exc:
                raise _netlink_error(f"marking bridge {ifname}", exc) from exc

    def delete(self, network: NetworkInfo) -> None:
        """Delete the bridge if this daemon made it; leave anyone else's."""
        with self._lock:
            self._managed.discard(network.interface)
            if self._alias(network.interface) == self._mark:
                self._delete_locked(network.interface)

    def _delete_locked(self, ifname: str) -> None:
        from pyroute2 import NetlinkError

        index = self._index(ifname)
        if index is None:
            return
        try:
            self._host().link("del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise _netlink_error(f"deleting {ifname}", exc) from exc

    # -- the default bridge ---------------------------------------------------------------

    def setup_default(
        self, ifname: str, *, bip: str, recorded: str, previous_root: str | None,
        pick: Callable[[], str], firewall_users: Callable[[str], list[str]], mtu: int = 1500,
    ) -> DefaultBridge:
        """Make or adopt the default bridge, as dockerd does with docker0: a missing bridge
        is made with ``bip``, else ``recorded`` (the address it had), else ``pick()``; an
        existing one keeps the IPv4 address it has. Called by the daemon holding the
        bridge's claim; ``previous_root`` is the data root of the daemon that held it last.
        Refused: a device that is not a bridge; another daemon's bridge with containers
        still on it (live restore) or with another program's firewall rules; a ``bip``
        other than the address a bridge minke did not make has."""
        if len(ifname) > 15:
            raise InvalidParameter(f"bridge name {ifname!r} is longer than 15 characters")
        from pyroute2 import NetlinkError

        with self._lock:
            found = self._probe(ifname)
            if found is None:
                result = DefaultBridge("", "", created=True)
            else:
                result = self._adopt_locked(ifname, found, bip, previous_root, firewall_users)
            has_address = found is not None and bool(found.ipv4)
            if found is not None and found.ipv4:
                cidr = found.ipv4[0]
            else:
                cidr = bip or recorded or pick()
                if not result.created:
                    result.added = cidr
            if found is None:
                self._make_locked(ifname, mtu)
            try:
                index = self._index(ifname)
                if not has_address:
                    self._add_address(index, cidr)
                self._host().link("set", index=index, state="up")
            except NetlinkError as exc:
                if found is None:
                    self._delete_locked(ifname)
                raise _netlink_error(f"configuring bridge {ifname}", exc) from exc
            self._managed.add(ifname)
        _enable_forwarding(ifname)
        iface = ipaddress.ip_interface(cidr)
        result.subnet, result.gateway = str(iface.network), str(iface.ip)
        return result

    def _adopt_locked(self, ifname: str, found: Device, bip: str, previous_root: str | None,
                      firewall_users: Callable[[str], list[str]]) -> DefaultBridge:
        from pyroute2 import NetlinkError

        if found.kind != "bridge":
            raise Conflict(f"{ifname} exists and is a {found.kind or 'plain'} device, not a "
                           "bridge: give this daemon another bridge with -b/--bridge")
        made_by = marked_root(found.alias)
        last = previous_root if previous_root is not None else made_by
        ours = last is not None and mark(last) == self._mark
        if not ours:
            owner = (f"the minked with data root {last}, which is not running" if last
                     else "a daemon other than this one")
            if found.ports:
                found.ports = self._ports_after_teardown(found)
            if found.ports:
                raise Conflict(
                    f"bridge {ifname} has interfaces attached ({', '.join(found.ports[:4])}"
                    f"{', ...' if len(found.ports) > 4 else ''}): containers of {owner} are "
                    "on it; stop or remove them, or give this daemon another bridge with "
                    "-b/--bridge")
            users = firewall_users(ifname)
            if users:
                raise Conflict(
                    f"bridge {ifname} is used by firewall rules of another program "
                    f"({', '.join(users)}): another daemon manages it; give this daemon "
                    "another bridge with -b/--bridge")
        result = DefaultBridge("", "", created=made_by is not None)
        if made_by is not None and found.alias != self._mark:
            # A stale bridge minke made: it is ours now, to keep or delete.
            try:
                self._host().link("set", index=found.index, ifalias=self._mark)
            except NetlinkError as exc:
                raise _netlink_error(f"marking bridge {ifname}", exc) from exc
        if bip and found.ipv4 and ipaddress.ip_interface(bip) != ipaddress.ip_interface(
                found.ipv4[0]):
            if not result.created or found.ports:
                raise Conflict(
                    f"--bip {bip} conflicts with the address {found.ipv4[0]} that bridge "
                    f"{ifname} already has: start without --bip to use that address, or "
                    "remove it from the bridge")
            # A bridge minke made, with no container on it: --bip moves it, as in Docker.
            for cidr in found.ipv4:
                address, _, prefix = cidr.partition("/")
                self._host().addr("del", index=found.index, address=address,
                                  prefixlen=int(prefix))
            found.ipv4 = []
        if len(found.ipv4) > 1:
            log.warning("bridge %s has %d IPv4 addresses; the default network uses the first, "
                        "%s", ifname, len(found.ipv4), found.ipv4[0])
        return result

    def _ports_after_teardown(self, found: Device) -> list[str]:
        """The bridge's ports once the kernel has finished deleting namespaces that are
        going away (it does so in the background: a container removed a moment ago may
        still have its veth on the bridge)."""
        deadline = time.monotonic() + PORTS_SETTLE_S
        ports = found.ports
        while ports and time.monotonic() < deadline:
            time.sleep(0.05)
            ports = [p.get_attr("IFLA_IFNAME")
                     for p in self._host().link("dump", master=found.index)]
        return ports

    def release_default(self, ifname: str, *, added: str) -> bool:
        """Take off the host what this daemon put there for its default bridge: the bridge
        if it carries our mark, else the address we added to someone else's. Whether the
        bridge was ours (then its firewall table is ours too)."""
        from pyroute2 import NetlinkError

        with self._lock:
            self._managed.discard(ifname)
            found = self._probe(ifname)
            if found is None:
                return True
            if found.alias == self._mark:
                self._delete_locked(ifname)
                return True
            if added and marked_root(found.alias) is None and added in found.ipv4:
                address, _, prefix = added.partition("/")
                try:
                    self._host().addr("del", index=found.index, address=address,
                                      prefixlen=int(prefix))
                except NetlinkError as exc:
                    if exc.code != errno.EADDRNOTAVAIL:
                        raise _netlink_error(f"removing {added} from {ifname}", exc) from exc
            return marked_root(found.alias) is None

    # -- endpoints ------------------------------------------------------------------------

    def join(self, network: NetworkInfo, endpoint: Endpoint, ns: Path) -> None:
        from pyroute2 import NetlinkError

        fd = os.open(ns, os.O_RDONLY)
        try:
            with self._lock:
                ipr = self._host()
                bridge = self._index(network.interface)
                if bridge is None:
                    raise InternalError(f"bridge {network.interface} of network "
                                        f"{network.name} is missing")
                if network.interface not in self._managed:
                    raise Conflict(f"bridge {network.interface} of network {network.name} "
                                   "is not managed by this daemon (see its start-up log)")
                try:
                    ipr.link("add", ifname=endpoint.host_ifname, kind="veth", mtu=network.mtu,
                             peer={"ifname": endpoint.ifname, "net_ns_fd": fd,
                                   "address": endpoint.mac, "mtu": network.mtu})
                    host_end = self._index(endpoint.host_ifname)
                    ipr.link("set", index=host_end, master=bridge, state="up")
                except (NetlinkError, OSError) as exc:
                    self._delete_locked(endpoint.host_ifname)
                    raise _netlink_error(f"creating veth for {network.name}", exc) from exc
        finally:
            os.close(fd)
        try:
            netns.run_in(ns, lambda: _configure_inside(endpoint))
        except BaseException:
            with self._lock:
                self._delete_locked(endpoint.host_ifname)
            raise

    def leave(self, network: NetworkInfo, endpoint: Endpoint) -> None:
        with self._lock:
            self._delete_locked(endpoint.host_ifname)


def _configure_inside(endpoint: Endpoint) -> None:
    """Runs in the container's namespace: addresses, link up, default route."""
    from pyroute2 import IPRoute, NetlinkError

    try:
        index = socket.if_nametoindex(endpoint.ifname)
        with IPRoute() as ipr:
            for cidr in (endpoint.ipv4, endpoint.ipv6):
                if cidr:
                    address, _, prefix = cidr.partition("/")
                    extra = {"flags": IFA_F_NODAD} if ":" in address else {}
                    ipr.addr("add", index=index, address=address, prefixlen=int(prefix),
                             **extra)
            ipr.link("set", index=index, state="up")
            ipr.link("set", index=socket.if_nametoindex("lo"), state="up")
            if endpoint.default_route:
                if endpoint.gateway4:
                    ipr.route("replace", dst="0.0.0.0/0", gateway=endpoint.gateway4)
                if endpoint.gateway6:
                    ipr.route("replace", dst="::/0", gateway=endpoint.gateway6, family=10)
    except (NetlinkError, OSError) as exc:
        raise InternalError(f"configuring {endpoint.ifname} in the container: {exc}") from exc


def _index_of(ifname: str) -> int | None:
    """The interface's index in this thread's namespace. The kernel's name lookup, not
    pyroute2's ``link_lookup``: that dumps and parses every link of the namespace, which on
    a host with hundreds of veths was most of the daemon's CPU per container start."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None
