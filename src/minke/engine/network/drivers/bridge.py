"""The ``bridge`` driver: a Linux bridge per network and a veth pair per container, made
through netlink (pyroute2).

Owns the bridge device (its gateway addresses, MTU, ``route_localnet`` so that DNAT from
127.0.0.1 can be routed to it) and the veth pairs: the host end is enslaved to the bridge,
the other end is created directly inside the container's namespace under its final name
(eth0, eth1, ...) and configured there by a thread that entered the namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import threading
from pathlib import Path
from typing import Any

from minke.engine.network import netns
from minke.engine.network.driver import Endpoint, NetworkDriver, NetworkInfo
from minke.errors import InternalError, InvalidParameter

IFA_F_NODAD = 0x02  # IPv6 addresses usable at once, without duplicate-address detection


def _netlink_error(what: str, exc: Exception) -> InternalError:
    return InternalError(f"{what}: {exc}")


def _sysctl(path: str, value: str) -> None:
    try:
        Path("/proc/sys", path).write_text(value)
    except OSError as exc:
        raise InternalError(f"sysctl {path}={value}: {exc}") from exc


class BridgeDriver(NetworkDriver):
    name = "bridge"
    own_namespace = True
    user_defined = True

    def __init__(self) -> None:
        # One netlink socket in the host namespace, shared by the service's worker threads.
        self._lock = threading.Lock()
        self._ipr: Any = None

    def _host(self) -> Any:
        if self._ipr is None:
            from pyroute2 import IPRoute  # imported on first use: it costs ~0.5 s

            self._ipr = IPRoute()
        return self._ipr

    def _index(self, ifname: str) -> int | None:
        found = self._host().link_lookup(ifname=ifname)
        return found[0] if found else None

    # -- networks -------------------------------------------------------------------------

    def create(self, network: NetworkInfo) -> None:
        from pyroute2 import NetlinkError

        if len(network.interface) > 15:
            raise InvalidParameter(
                f"bridge name {network.interface!r} is longer than 15 characters")
        with self._lock:
            ipr = self._host()
            made = False
            try:
                index = self._index(network.interface)
                if index is None:
                    ipr.link("add", ifname=network.interface, kind="bridge")
                    made = True
                    index = self._index(network.interface)
                ipr.link("set", index=index, mtu=network.mtu)
                for subnet, gateway in network.subnets:
                    net = ipaddress.ip_network(subnet)
                    extra = {"flags": IFA_F_NODAD} if net.version == 6 else {}
                    try:
                        ipr.addr("add", index=index, address=gateway, prefixlen=net.prefixlen,
                                 **extra)
                    except NetlinkError as exc:
                        if exc.code != errno.EEXIST:
                            raise
                ipr.link("set", index=index, state="up")
            except NetlinkError as exc:
                if made:
                    self._delete_locked(network.interface)
                raise _netlink_error(f"creating bridge {network.interface}", exc) from exc
        # Forwarding is what makes a bridge network reach anything beyond itself (Docker
        # turns it on too); route_localnet lets DNAT of 127.0.0.1 be routed to the bridge.
        _sysctl("net/ipv4/ip_forward", "1")
        _sysctl(f"net/ipv4/conf/{network.interface}/route_localnet", "1")

    def restore(self, network: NetworkInfo) -> None:
        self.create(network)

    def delete(self, network: NetworkInfo) -> None:
        with self._lock:
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
                try:
                    ipr.link("add", ifname=endpoint.host_ifname, kind="veth", mtu=network.mtu,
                             peer={"ifname": endpoint.ifname, "net_ns_fd": fd,
                                   "address": endpoint.mac, "mtu": network.mtu})
                    host_end = self._index(endpoint.host_ifname)
                    ipr.link("set", index=host_end, master=bridge, state="up")
                except NetlinkError as exc:
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
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=endpoint.ifname)[0]
            for cidr in (endpoint.ipv4, endpoint.ipv6):
                if cidr:
                    address, _, prefix = cidr.partition("/")
                    extra = {"flags": IFA_F_NODAD} if ":" in address else {}
                    ipr.addr("add", index=index, address=address, prefixlen=int(prefix),
                             **extra)
            ipr.link("set", index=index, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            if endpoint.default_route:
                if endpoint.gateway4:
                    ipr.route("replace", dst="0.0.0.0/0", gateway=endpoint.gateway4)
                if endpoint.gateway6:
                    ipr.route("replace", dst="::/0", gateway=endpoint.gateway6, family=10)
    except (NetlinkError, IndexError) as exc:
        raise InternalError(f"configuring {endpoint.ifname} in the container: {exc}") from exc
