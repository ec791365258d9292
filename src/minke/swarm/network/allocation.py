"""What the manager allocates for overlay networks across nodes (SwarmKit's network
allocator, for the parts the data plane needs): a VXLAN ID per network and, per network and
node, the node's load-balancer address.

- **VNI**: stored as Docker shows it, ``com.docker.network.driver.overlay.vxlanid_list`` in
  the network object's ``DriverState.Options`` (and so in ``network inspect``'s Options).
  The lowest free from 4097 up, as libnetwork's; a user-given one is checked to be free.
- **Node addresses** (libnetwork's ``lb-<network>`` endpoints): one address per node on
  each overlay network, on the node's bridge for that network, to which the node source-NATs
  what it balances (VIP and routing-mesh traffic), so that a task on another node replies
  through the node that balanced. Kept in the network object's ``NodeAddresses``
  (node ID → address), taken from the top of the first subnet downwards, as the VIPs are,
  and counted as used by the VIP allocator (``endpoints._vip``).

Pure functions over store objects, called inside the caller's transaction.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from minke import errors

Obj = dict[str, Any]

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
ENCRYPTED_OPTION = "encrypted"
FIRST_VNI = 4097  # libnetwork's first overlay VXLAN ID
MAX_VNI = (1 << 24) - 1
# Not "_"-prefixed: the dispatcher sends nodes the public part of objects, and every
# node needs every other node's address (its peers). The API never shows store networks.
NODE_ADDRESSES = "NodeAddresses"


def check_options(options: dict[str, Any]) -> None:
    """Refuse what the data plane does not do: ``--opt encrypted`` (IPsec between nodes;
    this build has no ESP, so it is refused rather than sending clear text)."""
    if ENCRYPTED_OPTION in options and str(options[ENCRYPTED_OPTION]).lower() not in (
            "false", "0"):
        raise errors.NotSupported(
            "encrypted overlay networks are not supported by minke (--opt encrypted needs "
            "IPsec ESP between nodes, which minke does not implement): create the network "
            "without --opt encrypted")


def vni_of(network: Obj) -> int | None:
    """The VXLAN ID of a stored network object, None if it has none."""
    options = ((network.get("DriverState") or {}).get("Options") or {})
    value = options.get(VNI_OPTION)
    return int(str(value).split(",")[0]) if value else None


def allocate_vni(networks: list[Obj], requested: str | None = None) -> int:
    """A VXLAN ID no network in ``networks`` has: ``requested`` (the user's
    ``--opt com.docker.network.driver.overlay.vxlanid_list``) if free, else the lowest free."""
    taken = {vni for vni in (vni_of(n) for n in networks) if vni is not None}
    if requested:
        try:
            wanted = int(str(requested).split(",")[0])
        except ValueError:
            raise errors.InvalidParameter(
                f"{VNI_OPTION}: {requested!r} is not a VXLAN ID") from None
        if not 1 <= wanted <= MAX_VNI:
            raise errors.InvalidParameter(f"{VNI_OPTION}: {wanted} is out of range "
                                          f"1-{MAX_VNI}")
        if wanted in taken:
            raise errors.Conflict(f"{VNI_OPTION}: VXLAN ID {wanted} is used by another "
                                  "network")
        return wanted
    vni = FIRST_VNI
    while vni in taken:
        vni += 1
    if vni > MAX_VNI:
        raise errors.Unavailable("no free VXLAN ID left")
    return vni


def node_addresses(network: Obj) -> dict[str, str]:
    return dict(network.get(NODE_ADDRESSES) or {})


def assign_node_addresses(network: Obj, node_ids: list[str], used: set[str]) -> bool:
    """Give every node of ``node_ids`` an address on ``network`` (kept ones stay; those of
    nodes gone are released); ``used``: addresses taken otherwise (VIPs, tasks). True when
    the network object changed."""
    configs = (network.get("IPAM") or {}).get("Configs") or []
    v4 = [c for c in configs if ":" not in c.get("Subnet", ":")]
    if not v4:
        return False
    subnet = ipaddress.ip_network(v4[0]["Subnet"])
    current = node_addresses(network)
    wanted = {n: a for n, a in current.items() if n in node_ids}
    taken = set(used) | set(wanted.values()) | {v4[0].get("Gateway", "")}
    taken |= set((v4[0].get("AuxiliaryAddresses") or {}).values())
    address = int(subnet.broadcast_address) - 1
    for node_id in sorted(n for n in node_ids if n not in wanted):
        while address > int(subnet.network_address):
            text = str(ipaddress.ip_address(address))
            address -= 1
            if text not in taken:
                wanted[node_id] = text
                taken.add(text)
                break
        else:
            raise errors.Unavailable(f"network {network['Spec']['Name']}: no address left "
                                     "for the nodes' load balancers")
    if wanted == current:
        return False
    network[NODE_ADDRESSES] = wanted
    return True


def used_addresses(services: list[Obj], tasks: list[Obj], network_id: str) -> set[str]:
    """The addresses of ``network_id`` that services' VIPs and tasks' attachments hold."""
    used = {v["Addr"].split("/")[0] for s in services
            for v in (s.get("Endpoint") or {}).get("VirtualIPs") or []
            if v.get("NetworkID") == network_id}
    for task in tasks:
        for attachment in task.get("NetworksAttachments") or []:
            if (attachment.get("Network") or {}).get("ID") == network_id:
                used |= {a.split("/")[0] for a in attachment.get("Addresses") or []}
    return used
