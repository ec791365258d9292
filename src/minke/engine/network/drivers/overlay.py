"""The ``overlay`` driver: the data path of swarm-scoped networks on this node.

On one node an overlay network is a local Linux bridge made and marked exactly as the
bridge driver's (the ownership mark, the same join and leave), so that the firewall,
addresses and DNS treat it as any other minke network. The multi-node issue extends this
driver with a VXLAN device enslaved to the bridge; nothing above the driver changes then.

Services' virtual IPs live on the bridge as /32 addresses: a task ARPs for a VIP of its own
subnet, the host answers, and the firewall's service chains DNAT the packet to a backend
(kube-proxy's IPVS mode does the same with its dummy device). They go with the bridge.
"""

from __future__ import annotations

import ipaddress

from minke.engine.network.driver import NetworkInfo
from minke.engine.network.drivers.bridge import BridgeDriver, _netlink_error


class OverlayDriver(BridgeDriver):
    name = "overlay"
    own_namespace = True
    # Created through the swarm (``docker network create -d overlay`` on a manager), never
    # by the local service alone: ``NetworkService.create`` hands it to the swarm hook.
    user_defined = True

    def set_vips(self, network: NetworkInfo, vips: set[str]) -> None:
        """Make the /32 addresses on ``network``'s bridge exactly ``vips`` (its gateways
        stay)."""
        from pyroute2 import NetlinkError

        gateways = {gateway for _, gateway in network.subnets}
        with self._lock:
            index = self._index(network.interface)
            if index is None:
                return
            ipr = self._host()
            try:
                present = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)
                           if a["prefixlen"] == 32}
                for address in present - vips - gateways:
                    ipr.addr("del", index=index, address=address, prefixlen=32)
                for address in sorted(vips - present):
                    ipaddress.IPv4Address(address)
                    self._add_address(index, f"{address}/32")
            except NetlinkError as exc:
                raise _netlink_error(f"setting the VIPs of {network.interface}", exc) from exc
