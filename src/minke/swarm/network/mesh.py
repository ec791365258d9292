"""The overlay data path of this node computed from the cluster state: for every swarm
network, its VNI, this node's load-balancer address on it and the endpoints on other nodes
(``Peer``: task address → its node's data-path address).

``plan`` is pure: it takes the store's objects (networks, tasks with their
``NetworksAttachments`` and ``NodeID``, nodes with their addresses) and this node's ID, so it
runs on whatever copy of the state a node has. ``OverlayDriver.program`` applies one
network's ``OverlayState``; the firewall source-NATs balanced traffic leaving an overlay
bridge to ``address`` (``BridgeRules.snat_to``), which is what makes the routing mesh and
VIPs work with backends on other nodes: the reply comes back through the node that chose
the backend, whose conntrack undoes both translations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minke.engine.network.vxlan import Peer
from minke.swarm.network.allocation import node_addresses, vni_of

Obj = dict[str, Any]

# Task states whose endpoints other nodes keep forwarding to: from the agent's acceptance
# until it ended (a stopping task still answers the connections it has).
_ENDED = {"complete", "shutdown", "failed", "rejected", "remove", "orphaned"}


@dataclass(frozen=True)
class OverlayState:
    """One overlay network on this node."""

    network_id: str
    vni: int | None
    address: str  # this node's load-balancer address on the network ("" none)
    peers: tuple[Peer, ...]


def node_data_address(node: Obj) -> str:
    """The address other nodes send this node's VXLAN traffic to: its data-path address
    if it gave one at join, else its advertise address (``Status.Addr``)."""
    return (node.get("_DataPathAddr") or (node.get("Status") or {}).get("Addr") or "")


def plan(node_id: str, networks: list[Obj], tasks: list[Obj], nodes: list[Obj]) -> dict[
        str, OverlayState]:
    """Every swarm network's ``OverlayState`` on node ``node_id``."""
    underlay = {n["ID"]: node_data_address(n) for n in nodes}
    down = {n["ID"] for n in nodes
            if ((n.get("Status") or {}).get("State") or "ready") == "down"}
    states: dict[str, OverlayState] = {}
    for network in networks:
        network_id = network["ID"]
        peers: dict[str, Peer] = {}
        for other, address in node_addresses(network).items():
            if other != node_id and underlay.get(other) and other not in down:
                peers[address] = Peer(address, underlay[other])
        for task in tasks:
            other = task.get("NodeID") or ""
            if other == node_id or not underlay.get(other) or other in down:
                continue
            if (task.get("Status") or {}).get("State") in _ENDED:
                continue
            for attachment in task.get("NetworksAttachments") or []:
                if (attachment.get("Network") or {}).get("ID") != network_id:
                    continue
                for cidr in attachment.get("Addresses") or []:
                    ip = cidr.split("/")[0]
                    if ":" not in ip:
                        peers[ip] = Peer(ip, underlay[other])
        states[network_id] = OverlayState(
            network_id=network_id, vni=vni_of(network),
            address=node_addresses(network).get(node_id, ""),
            peers=tuple(sorted(peers.values(), key=lambda p: p.ip)))
    return states
