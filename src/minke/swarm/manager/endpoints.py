"""A service's network attachments and endpoint (SwarmKit's ``allocator``, on one node):
the networks its tasks join, resolved from names to stored network IDs, a virtual IP per
network in ``vip`` mode, and its published ports, checked against every other service's.

Everything is decided inside the caller's store transaction, so a refused spec writes
nothing and two services never get one VIP or one ingress port. VIPs are taken from the
top of a network's subnet downwards while the local IPAM hands container addresses out from
the bottom; the data path reserves the VIPs as well (``NetworkService.reserved``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from minke import errors
from minke.swarm.manager.controlapi import rpc_error
from minke.swarm.network.allocation import node_addresses
from minke.swarm.store import Obj, ReadTx

PROTOCOLS = ("tcp", "udp", "sctp")
INGRESS_NAME = "ingress"
# SwarmKit's dynamic range for ingress ports published without a number.
DYNAMIC_PORTS = range(30000, 32768)


def find_network(tx: ReadTx, ref: str) -> Obj:
    """A swarm network by ID, name, then unique ID prefix."""
    network = tx.get("network", ref)
    if network is None:
        named = tx.find("network", name=ref) if ref else []
        matches = named or [n for n in tx.list("network") if ref and n["ID"].startswith(ref)]
        if len(matches) != 1:
            raise errors.NotFound(f"network {ref} not found")
        network = matches[0]
    return network


def ingress_network(tx: ReadTx) -> Obj | None:
    return next((n for n in tx.list("network") if n["Spec"].get("Ingress")), None)


def attachments(spec: Obj) -> list[Obj]:
    """The spec's network attachments (``TaskTemplate.Networks``, or the deprecated
    ``Networks`` at the top)."""
    return list(spec["TaskTemplate"].get("Networks") or spec.get("Networks") or [])


def check_shapes(spec: Obj) -> None:
    """What can be checked without the store (``validate_spec``)."""
    for i, entry in enumerate(attachments(spec)):
        if not isinstance(entry, dict) or not isinstance(entry.get("Target"), str) \
                or not entry["Target"]:
            raise errors.InvalidParameter(f"Networks[{i}].Target: a network is expected")
    endpoint = spec.get("EndpointSpec") or {}
    if not isinstance(endpoint, dict):
        raise errors.InvalidParameter("EndpointSpec: an object is expected")
    mode = endpoint.get("Mode") or "vip"
    if mode not in ("vip", "dnsrr"):
        raise rpc_error("InvalidArgument", f"invalid resolution mode: {mode!r}")
    for i, port in enumerate(endpoint.get("Ports") or []):
        if not isinstance(port, dict):
            raise errors.InvalidParameter(f"EndpointSpec.Ports[{i}]: an object is expected")
        if (port.get("Protocol") or "tcp") not in PROTOCOLS:
            raise rpc_error("InvalidArgument", f"invalid protocol: {port['Protocol']!r}")
        if (port.get("PublishMode") or "ingress") not in ("ingress", "host"):
            raise rpc_error("InvalidArgument",
                            f"invalid publish mode: {port['PublishMode']!r}")
        for key in ("TargetPort", "PublishedPort"):
            value = port.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    not 0 <= value <= 65535:
                raise errors.InvalidParameter(
                    f"EndpointSpec.Ports[{i}].{key}: a port number is expected")
        if not port.get("TargetPort"):
            raise rpc_error("InvalidArgument", "TargetPort must be specified")
        if mode == "dnsrr" and (port.get("PublishMode") or "ingress") == "ingress":
            raise rpc_error("InvalidArgument", "port published with ingress mode can't be "
                                               "used with dnsrr mode")


def _ingress_ports(spec: Obj) -> list[Obj]:
    return [p for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
            if (p.get("PublishMode") or "ingress") == "ingress"]


def _vip(tx: ReadTx, network: Obj, service_id: str, taken_here: set[str]) -> str:
    config = (network.get("IPAM") or {}).get("Configs") or []
    subnet = ipaddress.ip_network(config[0]["Subnet"])
    used = set(taken_here) | set(node_addresses(network).values())
    for other in tx.list("service"):
        if other["ID"] == service_id:
            continue
        for vip in (other.get("Endpoint") or {}).get("VirtualIPs") or []:
            used.add(vip["Addr"].split("/")[0])
    gateway = config[0].get("Gateway", "")
    for address in range(int(subnet.broadcast_address) - 1, int(subnet.network_address), -1):
        text = str(ipaddress.ip_address(address))
        if text not in used and text != gateway:
            return f"{text}/{subnet.prefixlen}"
    raise rpc_error("ResourceExhausted", f"could not allocate a VIP on network "
                                         f"{network['Spec']['Name']}: the subnet is full")


def allocate(tx: ReadTx, service: Obj, previous: Obj | None = None) -> None:
    """Resolve ``service``'s network targets to IDs (in its spec, as dockerd does), check its
    ports against the other services' and set its ``Endpoint`` (Spec, Ports, VirtualIPs).
    A VIP a network kept across an update stays the same."""
    spec = service["Spec"]
    key = "Networks" if spec["TaskTemplate"].get("Networks") or not spec.get("Networks") \
        else None
    resolved = []
    for entry in attachments(spec):
        network = find_network(tx, entry["Target"])
        if network["Spec"].get("Ingress"):
            raise rpc_error("InvalidArgument",
                            "Service cannot be explicitly attached to the ingress network "
                            f"\"{network['Spec']['Name']}\"")
        resolved.append({**entry, "Target": network["ID"]})
    if key:
        spec["TaskTemplate"]["Networks"] = resolved
    else:
        spec["Networks"] = resolved
    endpoint_spec = spec.get("EndpointSpec") or {"Mode": "vip"}
    ports = []
    seen: set[tuple[str, int]] = set()
    for port in endpoint_spec.get("Ports") or []:
        out = {"Protocol": port.get("Protocol") or "tcp", "TargetPort": port["TargetPort"],
               "PublishedPort": port.get("PublishedPort") or 0,
               "PublishMode": port.get("PublishMode") or "ingress"}
        if port.get("Name"):
            out["Name"] = port["Name"]
        ports.append(out)
    ingress_used = {(p["Protocol"], p["PublishedPort"]): other
                    for other in tx.list("service") if other["ID"] != service["ID"]
                    for p in (other.get("Endpoint") or {}).get("Ports") or []
                    if p.get("PublishMode") == "ingress"}
    old_ports = {(p["Protocol"], p["TargetPort"]): p["PublishedPort"]
                 for p in ((previous or {}).get("Endpoint") or {}).get("Ports") or []}
    for port in ports:
        if port["PublishMode"] != "ingress":
            continue
        if not port["PublishedPort"]:
            kept = old_ports.get((port["Protocol"], port["TargetPort"]))
            free = [n for n in ([kept] if kept else []) + list(DYNAMIC_PORTS)
                    if (port["Protocol"], n) not in ingress_used
                    and (port["Protocol"], n) not in seen]
            if not free:
                raise rpc_error("ResourceExhausted", "no free dynamic ingress port")
            port["PublishedPort"] = free[0]
        where = (port["Protocol"], port["PublishedPort"])
        other = ingress_used.get(where)
        if other is not None:
            raise rpc_error("InvalidArgument",
                            f"port '{port['PublishedPort']}' is already in use by service "
                            f"'{other['Spec']['Name']}' ({other['ID']}) as an ingress port")
        if where in seen:
            raise rpc_error("InvalidArgument",
                            f"duplicate published ports provided: {port['PublishedPort']}")
        seen.add(where)
    vip_networks = [e["Target"] for e in resolved]
    if _ingress_ports(spec):
        ingress = ingress_network(tx)
        if ingress is None:
            raise rpc_error("FailedPrecondition", "ingress network is not present: "
                                                  "services cannot publish ingress ports")
        vip_networks.insert(0, ingress["ID"])
    old_vips = {v["NetworkID"]: v["Addr"]
                for v in ((previous or {}).get("Endpoint") or {}).get("VirtualIPs") or []}
    vips: list[Obj] = []
    if (endpoint_spec.get("Mode") or "vip") == "vip":
        for network_id in dict.fromkeys(vip_networks):
            addr = old_vips.get(network_id) or _vip(
                tx, tx.get("network", network_id) or {}, service["ID"],
                {v["Addr"].split("/")[0] for v in vips})
            vips.append({"NetworkID": network_id, "Addr": addr})
    endpoint: dict[str, Any] = {"Spec": spec.get("EndpointSpec") or {}}
    if ports:
        endpoint["Ports"] = ports
    if vips:
        endpoint["VirtualIPs"] = vips
    service["Endpoint"] = endpoint


def network_in_use(tx: ReadTx, network_id: str) -> Obj | None:
    """A service attached to the network, if any."""
    for service in tx.list("service"):
        if any(e.get("Target") == network_id for e in attachments(service["Spec"])):
            return service
    return None
