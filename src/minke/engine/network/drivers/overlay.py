"""The ``overlay`` driver: the data path of swarm-scoped networks on this node.

An overlay network is, on each node, a local Linux bridge made and marked exactly as the
bridge driver's (the ownership mark, the same join and leave), so that the firewall,
addresses and DNS treat it as any other minke network. On a node of a multi-node swarm
(``data_path`` set: the node's data-path address) the bridge also gets a VXLAN port — the
network's VNI, UDP 4789, no learning — and forwarding and neighbour entries for the
endpoints on other nodes (``minke.engine.network.vxlan``, programmed by ``program`` from the
cluster state), plus this node's load-balancer address, which is also the bridge's MAC
(Docker's ``02:42:<IPv4>``), so that other nodes reach it as any endpoint. The MTU is then
the underlay's less the VXLAN overhead (50 bytes) unless ``com.docker.network.driver.mtu``
says otherwise.

Services' virtual IPs live on the bridge as /32 addresses: a task ARPs for a VIP of its own
subnet, the node answers, and the firewall's service chains DNAT the packet to a backend
(kube-proxy's IPVS mode does the same with its dummy device). They go with the bridge.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from minke.engine.network.driver import Endpoint, NetworkInfo
from minke.engine.network.drivers.bridge import BridgeDriver, _netlink_error
from minke.engine.network.vxlan import (
    VXLAN_OVERHEAD,
    OverlayPeers,
    Peer,
    endpoint_mac,
    underlay_mtu,
)

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
MTU_OPTION = "com.docker.network.driver.mtu"


class OverlayDriver(BridgeDriver):
    name = "overlay"
    own_namespace = True
    # Created through the swarm (``docker network create -d overlay`` on a manager), never
    # by the local service alone: ``NetworkService.create`` hands it to the swarm hook.
    user_defined = True

    # The node's data-path address while it is in a multi-node swarm ("": one node, the
    # bridge alone); the swarm sets it and then calls ``program`` for every network.
    data_path = ""

    def __init__(self, data_root: Path) -> None:
        super().__init__(data_root)
        self.peers = OverlayPeers(self._host, self._lock)
        self._addresses: dict[str, str] = {}  # network id → this node's LB address
        self._underlay_mtu: tuple[str, int] = ("", 0)  # (data path, its link's MTU)

    # -- what a network is here -----------------------------------------------------------

    @staticmethod
    def vni(network: NetworkInfo) -> int | None:
        value = network.options.get(VNI_OPTION)
        return int(value.split(",")[0]) if value else None

    def _sized(self, network: NetworkInfo) -> NetworkInfo:
        """``network`` with its MTU on this node: the option's, else on a multi-node node
        the underlay's less the VXLAN overhead."""
        if network.options.get(MTU_OPTION) or not self.data_path:
            return network
        if self._underlay_mtu[0] != self.data_path:
            self._underlay_mtu = (self.data_path, underlay_mtu(self.data_path))
        return dataclasses.replace(network, mtu=self._underlay_mtu[1] - VXLAN_OVERHEAD)

    def create(self, network: NetworkInfo) -> None:
        sized = self._sized(network)
        super().create(sized)
        try:
            self._ensure_vxlan(sized, take=True)
        except BaseException:
            super().delete(network)
            raise

    def restore(self, network: NetworkInfo) -> None:
        sized = self._sized(network)
        super().restore(sized)
        self._ensure_vxlan(sized, take=True)

    def delete(self, network: NetworkInfo) -> None:
        vni = self.vni(network)
        if vni is not None:
            self.peers.remove(vni, network.interface)
        self._addresses.pop(network.id, None)
        super().delete(network)

    def join(self, network: NetworkInfo, endpoint: Endpoint, ns: Path) -> None:
        """As the bridge's, at the overlay's MTU, and with the port in hairpin mode: a task
        balanced to itself through its service's VIP gets its own packets back (with
        br_netfilter the DNAT happens while the frame is bridged, and a bridge never sends
        a frame back out of its port otherwise: the SYN would be lost and retried)."""
        from pyroute2 import NetlinkError

        super().join(self._sized(network), endpoint, ns)
        with self._lock:
            try:
                index = self._index(endpoint.host_ifname)
                if index is not None:
                    self._host().brport("set", index=index, mode=1)
            except NetlinkError as exc:
                self._delete_locked(endpoint.host_ifname)
                raise _netlink_error(f"hairpin mode on {endpoint.host_ifname}", exc) from exc

    def _ensure_vxlan(self, network: NetworkInfo, *, take: bool = False) -> None:
        vni = self.vni(network)
        if vni is not None and self.data_path:
            self.peers.ensure(network.interface, vni, self.data_path, network.mtu, take=take)

    # -- the cluster's view ---------------------------------------------------------------

    def program(self, network: NetworkInfo, address: str, peers: list[Peer]) -> None:
        """Make ``network`` on this node as the cluster state says: its VXLAN device (on a
        multi-node node), ``address`` (this node's load-balancer address, "" none) on the
        bridge, which takes its MAC, and exactly ``peers`` forwarded."""
        from pyroute2 import NetlinkError

        sized = self._sized(network)
        with self._lock:
            index = self._index(network.interface)
            if index is None:
                return
            old = self._addresses.get(network.id, "")
            try:
                if address and address != old:
                    self._host().link("set", index=index, address=endpoint_mac(address))
                    self._add_address(index, f"{address}/32")
                if old and old != address:
                    self._host().addr("del", index=index, address=old, prefixlen=32)
            except NetlinkError as exc:
                raise _netlink_error(f"load-balancer address of {network.interface}",
                                     exc) from exc
            if address:
                self._addresses[network.id] = address
            else:
                self._addresses.pop(network.id, None)
        vni = self.vni(network)
        if vni is not None and self.data_path:
            self._ensure_vxlan(sized)
            self.peers.apply(vni, peers)

    def address(self, network_id: str) -> str:
        """This node's load-balancer address on the network ("" none)."""
        return self._addresses.get(network_id, "")

    def set_vips(self, network: NetworkInfo, vips: set[str]) -> None:
        """Make the /32 addresses on ``network``'s bridge exactly ``vips`` (its gateways
        and this node's load-balancer address stay)."""
        from pyroute2 import NetlinkError

        keep = {gateway for _, gateway in network.subnets}
        if self._addresses.get(network.id):
            keep.add(self._addresses[network.id])
        with self._lock:
            index = self._index(network.interface)
            if index is None:
                return
            ipr = self._host()
            try:
                present = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)
                           if a["prefixlen"] == 32}
                for address in present - vips - keep:
                    ipr.addr("del", index=index, address=address, prefixlen=32)
                for address in sorted(vips - present):
                    ipaddress.IPv4Address(address)
                    self._add_address(index, f"{address}/32")
            except NetlinkError as exc:
                raise _netlink_error(f"setting the VIPs of {network.interface}", exc) from exc
