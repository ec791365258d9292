"""VXLAN on this node: the VXLAN device of an overlay network, and the forwarding entries
that send frames for endpoints on other nodes to those nodes (the overlay driver's peers).

One VXLAN device per overlay network and node (``vx-<vni hex>``), enslaved to the
network's bridge: its VNI is the network's (the swarm manager allocates it),
UDP 4789, the node's data-path address as local endpoint, no multicast group and no
learning. What another node holds is programmed from the cluster state, as libnetwork's
overlay driver does from its gossip (here: ``minke.swarm.network.mesh`` from the store):

- a forwarding-database entry ``MAC → node's underlay address`` per remote endpoint,
- a permanent neighbour entry ``IP → MAC`` on the VXLAN device, which answers ARP for that
  IP itself (``proxy``): ARP requests never cross the underlay, and nothing is flooded.

An endpoint's MAC is Docker's ``02:42:<IPv4 bytes>`` (``sandbox._mac``), so an address is
all a node needs to know of a remote task. Runs in the calling thread's network namespace
(minked's, i.e. the node's), with blocking netlink calls: callers use a worker thread.
Knows nothing of tasks, services or the store.
"""

from __future__ import annotations

import errno
import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from minke.errors import Conflict, InternalError, InvalidParameter

VXLAN_PORT = 4789  # IANA's, and Docker's default data-path port
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 bytes
NUD_PERMANENT = 0x80
AF_BRIDGE = 7
NTF_SELF = 0x02
VNI_MIN, VNI_MAX = 1, (1 << 24) - 1


def endpoint_mac(ipv4: str) -> str:
    """Docker's MAC for an IPv4 endpoint: 02:42 and the address's four bytes."""
    raw = ipaddress.IPv4Address(ipv4.split("/")[0]).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)


def device_name(vni: int) -> str:
    """The VXLAN device of VNI ``vni`` on a node (at most 15 characters)."""
    return f"vx-{vni:06x}"


@dataclass(frozen=True)
class Peer:
    """An endpoint on another node: its overlay address and its node's underlay address."""

    ip: str
    underlay: str
    mac: str = ""

    @property
    def lladdr(self) -> str:
        return self.mac or endpoint_mac(self.ip)


class OverlayPeers:
    """The VXLAN devices and their entries in the namespace of ``host``'s socket.

    Lifecycle per network: ``ensure`` (device made or checked, on the bridge) →
    ``apply`` (entries made exactly the given peers; repeat on every change) → ``remove``.
    """

    def __init__(self, host: Callable[[], Any], lock: threading.Lock) -> None:
        # The owner's netlink socket (opened in the node's namespace on first use) and the
        # lock that serialises its use: the overlay driver shares its own.
        self._host = host
        self._lock = lock
        # VNI → (bridge, local, mtu) of a device this object made or checked: ``ensure``
        # then costs three small requests, on the path of every peer change.
        self._known: dict[int, tuple[str, str, int]] = {}

    def _index(self, ifname: str) -> int | None:
        found = self._host().link_lookup(ifname=ifname)
        return found[0] if found else None

    def ensure(self, bridge: str, vni: int, local: str, mtu: int, *,
               take: bool = False) -> str:
        """Make the VXLAN device of ``vni`` (local endpoint ``local``) a port of ``bridge``,
        up, with ``mtu``; one with other settings is remade. A device on another bridge
        that still exists (a network of the same VNI on its way out) is moved only when
        ``take`` (the new network is being made): otherwise Conflict. Returns its name."""
        if not VNI_MIN <= vni <= VNI_MAX:
            raise InvalidParameter(f"VXLAN ID {vni} is out of range {VNI_MIN}-{VNI_MAX}")
        ipaddress.IPv4Address(local)
        from pyroute2 import NetlinkError

        name = device_name(vni)
        with self._lock:
            ipr = self._host()
            if self._known.get(vni) == (bridge, local, mtu):
                # (the bridge may have been remade under the same name: check the port)
                index, master = self._index(name), self._index(bridge)
                if index is not None and master is not None and \
                        ipr.get_links(index)[0].get_attr("IFLA_MASTER") == master:
                    return name
            self._known.pop(vni, None)
            try:
                master = self._index(bridge)
                if master is None:
                    raise InternalError(f"bridge {bridge} of VXLAN {vni} is missing")
                index = self._index(name)
                if index is not None and not self._matches(index, vni, local):
                    ipr.link("del", index=index)
                    index = None
                if index is not None and not take:
                    owner = ipr.get_links(index)[0].get_attr("IFLA_MASTER")
                    if owner not in (None, master):
                        raise Conflict(f"VXLAN {vni} is a port of another bridge (index "
                                       f"{owner}): that network is being removed")
                if index is None:
                    ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni,
                             vxlan_local=local, vxlan_port=VXLAN_PORT, vxlan_learning=0,
                             vxlan_proxy=1, mtu=mtu)
                    index = self._index(name)
                ipr.link("set", index=index, mtu=mtu, master=master, state="up")
                # The bridge too: one restored before the node knew its data path kept
                # the MTU it was made with, and would send frames its VXLAN port drops.
                ipr.link("set", index=master, mtu=mtu)
            except NetlinkError as exc:
                raise InternalError(f"VXLAN device {name} on {bridge}: {exc}") from exc
            self._known[vni] = (bridge, local, mtu)
        return name

    def _matches(self, index: int, vni: int, local: str) -> bool:
        info = self._host().get_links(index)[0].get_attr("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan":
            return False
        data = info.get_attr("IFLA_INFO_DATA")
        return (data.get_attr("IFLA_VXLAN_ID") == vni
                and data.get_attr("IFLA_VXLAN_LOCAL") == local)

    def apply(self, vni: int, peers: Iterable[Peer]) -> None:
        """Make the forwarding and neighbour entries of VNI ``vni``'s device exactly those
        of ``peers`` (entries of endpoints gone are removed). A missing device is an error:
        ``ensure`` comes first."""
        from pyroute2 import NetlinkError

        wanted_fdb = {p.lladdr: p.underlay for p in peers}
        wanted_neigh = {p.ip: p.lladdr for p in peers}
        name = device_name(vni)
        with self._lock:
            ipr = self._host()
            index = self._index(name)
            if index is None:
                raise InternalError(f"VXLAN device {name} is missing")
            try:
                fdb, neigh = self._entries(index)
                for mac, dst in fdb.items():
                    if wanted_fdb.get(mac) != dst:
                        self._quiet(ipr.fdb, "del", ifindex=index, lladdr=mac, dst=dst)
                for mac, dst in wanted_fdb.items():
                    if fdb.get(mac) != dst:
                        ipr.fdb("append", ifindex=index, lladdr=mac, dst=dst,
                                state=NUD_PERMANENT)
                for ip, mac in neigh.items():
                    if wanted_neigh.get(ip) != mac:
                        self._quiet(ipr.neigh, "del", ifindex=index, dst=ip, lladdr=mac)
                for ip, mac in wanted_neigh.items():
                    if neigh.get(ip) != mac:
                        ipr.neigh("replace", ifindex=index, dst=ip, lladdr=mac,
                                  state=NUD_PERMANENT)
            except NetlinkError as exc:
                raise InternalError(f"VXLAN {vni} peers: {exc}") from exc

    def _entries(self, index: int) -> tuple[dict[str, str], dict[str, str]]:
        """The device's remote forwarding entries (MAC → underlay) and permanent
        neighbours (IP → MAC)."""
        ipr = self._host()
        fdb: dict[str, str] = {}
        for entry in ipr.get_neighbours(AF_BRIDGE, ifindex=index):
            dst, mac = entry.get_attr("NDA_DST"), entry.get_attr("NDA_LLADDR")
            if dst and mac and mac != "00:00:00:00:00:00":
                fdb[mac] = dst
        neigh: dict[str, str] = {}
        for entry in ipr.get_neighbours(2, ifindex=index):
            if entry["state"] & NUD_PERMANENT and entry.get_attr("NDA_LLADDR"):
                neigh[entry.get_attr("NDA_DST")] = entry.get_attr("NDA_LLADDR")
        return fdb, neigh

    @staticmethod
    def _quiet(call: Any, *args: Any, **kwargs: Any) -> None:
        from pyroute2 import NetlinkError

        try:
            call(*args, **kwargs)
        except NetlinkError as exc:
            if exc.code not in (errno.ENOENT, errno.ENODEV):
                raise

    def remove(self, vni: int, bridge: str) -> None:
        """Delete VNI ``vni``'s device (and its entries) if it is a port of ``bridge`` or of
        none; a no-op when it is gone or another network's now (its VNI was reused)."""
        from pyroute2 import NetlinkError

        with self._lock:
            index = self._index(device_name(vni))
            if index is None:
                self._known.pop(vni, None)
                return
            owner = self._host().get_links(index)[0].get_attr("IFLA_MASTER")
            if owner not in (None, self._index(bridge)):
                return
            self._known.pop(vni, None)
            try:
                self._host().link("del", index=index)
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:
                    raise InternalError(f"deleting {device_name(vni)}: {exc}") from exc


def underlay_mtu(local: str) -> int:
    """The MTU of the interface that holds ``local`` (the node's data-path address); 1500
    when none does."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=2):
            if addr.get_attr("IFA_ADDRESS") == local:
                return int(ipr.get_links(addr["index"])[0].get_attr("IFLA_MTU") or 1500)
    return 1500
