"""The network allocator (SwarmKit's ``manager/allocator``, for addresses): the leader's
reconciler that gives every live task an address on each swarm network it joins
(``NetworksAttachments``, Docker's shape) and every node its load-balancer address on each
swarm network (``allocation.assign_node_addresses``), cluster-wide and in one transaction
per pass, so that no two endpoints anywhere share an address.

Task addresses come from the bottom of the network's first IPv4 subnet upwards (VIPs and
node addresses from the top downwards); an ended task's address is free again. The agent
starts a task that joins swarm networks only once it has its attachments
(``needs_attachments``) and asks the engine for exactly those addresses.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from minke import errors
from minke.swarm.manager import tasks as t
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.network.allocation import (
    assign_node_addresses,
    node_addresses,
    used_addresses,
)
from minke.swarm.store import CREATE, DELETE, Event, Tx

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def task_networks(task: Obj, service: Obj | None) -> list[str]:
    """The IDs of the swarm networks ``task`` joins: the ingress network first when its
    service publishes ingress ports (its VIP there is the only trace of it), then the
    networks of its spec."""
    if service is not None:  # what the agent attaches (``executor._attach``)
        spec = service["Spec"]
        entries = spec["TaskTemplate"].get("Networks") or spec.get("Networks") or []
    else:
        entries = (task.get("Spec") or {}).get("Networks") or []
    wanted = [e["Target"] for e in entries if e.get("Target")]
    endpoint = (service or {}).get("Endpoint") or {}
    if any(p.get("PublishMode") == "ingress" for p in endpoint.get("Ports") or []):
        for vip in endpoint.get("VirtualIPs") or []:
            if vip["NetworkID"] not in wanted:
                wanted.insert(0, vip["NetworkID"])
                break
    return wanted


def needs_attachments(task: Obj, service: Obj | None) -> bool:
    """The task joins swarm networks and has no addresses yet: its agent waits."""
    return bool(task_networks(task, service)) and not task.get("NetworksAttachments")


def attachment_addresses(task: Obj) -> dict[str, str]:
    """Network ID → the task's allocated IPv4 address (no prefix length) on it."""
    out = {}
    for attachment in task.get("NetworksAttachments") or []:
        for cidr in attachment.get("Addresses") or []:
            if ":" not in cidr:
                out[(attachment.get("Network") or {}).get("ID", "")] = cidr.split("/")[0]
                break
    return out


class NetworkAllocator(Reconciler):
    name = "network-allocator"
    kinds = ("task", "node", "network", "service")

    async def reconcile(self) -> None:
        self.covered(await self.store.update(lambda tx: (allocate(tx), tx.index)[1]))

    def relevant(self, event: Event) -> bool:
        """Task events matter when a task may need addresses (it is new) or frees some (one
        with attachments ends or goes): a task's other progress changes nothing here."""
        if event.kind != "task" or event.action == CREATE:
            return True
        new, old = event.object, event.old or {}
        if event.action == DELETE:
            return bool(old.get("NetworksAttachments"))
        if bool(new.get("NetworksAttachments")) != bool(old.get("NetworksAttachments")):
            return True
        return bool(new.get("NetworksAttachments")) and \
            t.has_ended(new) != t.has_ended(old or new)


def allocate(tx: Tx) -> None:
    """One pass over the whole state: node addresses first (they are few and stable), then
    the tasks that lack attachments."""
    networks = {n["ID"]: n for n in tx.list("network")}
    services = {s["ID"]: s for s in tx.list("service")}
    tasks = [x for x in tx.list("task") if not t.has_ended(x)]
    nodes = [n["ID"] for n in tx.list("node")]
    used = {network_id: used_addresses(list(services.values()), tasks, network_id)
            for network_id in networks}
    for network_id, network in networks.items():
        if assign_node_addresses(network, nodes, used[network_id]):
            tx.update("network", network)
        used[network_id] |= set(node_addresses(network).values())
    for task in tasks:
        if task.get("NetworksAttachments"):
            continue
        wanted = task_networks(task, services.get(task["ServiceID"]))
        if not wanted:
            continue
        try:
            task["NetworksAttachments"] = [
                new_attachment(networks[n], used[n]) for n in wanted if n in networks]
        except errors.Unavailable as exc:
            log.error("task %s: %s", task["ID"], exc)
            continue
        tx.update("task", task)


def new_attachment(network: Obj, used: set[str], wanted: str = "") -> Obj:
    """An attachment to ``network`` at its lowest address not in ``used`` (then used), or
    at ``wanted`` (a standalone container's ``--ip``): 409 if that one is taken."""
    configs = [c for c in (network.get("IPAM") or {}).get("Configs") or []
               if ":" not in c.get("Subnet", ":")]
    if wanted:
        try:
            ip = ipaddress.ip_address(wanted)
        except ValueError:
            raise errors.InvalidParameter(f"invalid address {wanted!r}") from None
        configs = [c for c in configs if ip in ipaddress.ip_network(c["Subnet"])]
        if not configs:
            raise errors.InvalidParameter(f"address {wanted} is not in a subnet of network "
                                          f"{network['Spec']['Name']}")
    if not configs:
        return {"Network": network_summary(network), "Addresses": []}
    config = configs[0]
    subnet = ipaddress.ip_network(config["Subnet"])
    pool = ipaddress.ip_network(config["IPRange"]) if config.get("IPRange") else subnet
    reserved = {config.get("Gateway", ""), *(config.get("AuxiliaryAddresses") or {}).values()}
    for text in [wanted] if wanted else map(str, pool.hosts()):
        if text not in used and text not in reserved:
            used.add(text)
            return {"Network": network_summary(network),
                    "Addresses": [f"{text}/{subnet.prefixlen}"]}
    if wanted:
        raise errors.Conflict(f"Address already in use: {wanted}")
    raise errors.Unavailable(f"network {network['Spec']['Name']}: no address left for a task")


def network_summary(network: Obj) -> Obj:
    """The network as a task's attachment shows it (Docker embeds the whole object)."""
    return {"ID": network["ID"], "Spec": network["Spec"],
            "DriverState": network.get("DriverState") or {}, "IPAMOptions": {
                "Driver": {"Name": "default"},
                "Configs": (network.get("IPAM") or {}).get("Configs") or []}}
