"""IP address management: subnets for networks and addresses for endpoints.

Owns Docker's ``IPAM`` shape (``{"Driver", "Options", "Config": [{"Subnet", "Gateway",
"IPRange", "AuxiliaryAddresses"}]}``): choosing a default pool that collides with nothing
(other networks of any minke, Docker's 172.17.0.0/16 and every route the host has),
validating user-given subnets, gateways, ranges and auxiliary addresses, and picking free
addresses. It is pure: the addresses in use are passed in (the service keeps them in SQLite,
so they survive daemon restarts), and the host's routes are read from /proc.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minke.errors import Forbidden, InvalidParameter, Unavailable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Docker's default address pools (libnetwork ipamutils): 172.17-31.0.0/16, then
# 192.168.0.0/16 in /20s. 172.17.0.0/16 is never handed out: it is Docker's docker0, and
# a minke beside a Docker must not take it even when that Docker's bridge is not up.
DOCKER_BRIDGE_SUBNET = ipaddress.ip_network("172.17.0.0/16")
DEFAULT_POOLS: list[Network] = [
    *(ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(18, 32)),
    *ipaddress.ip_network("192.168.0.0/16").subnets(new_prefix=20),
]
# IPv6 without --subnet: a unique-local /64 derived from the network id.
ULA_PREFIX = "fd"


@dataclass
class Subnet:
    """One entry of ``IPAM.Config`` with the addresses it reserves."""

    subnet: Network
    gateway: Address
    ip_range: Network | None = None
    aux: dict[str, Address] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.subnet.version

    def reserved(self) -> set[Address]:
        return {self.gateway, *self.aux.values()}

    def to_docker(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Subnet": str(self.subnet), "Gateway": str(self.gateway)}
        if self.ip_range is not None:
            out["IPRange"] = str(self.ip_range)
        if self.aux:
            out["AuxiliaryAddresses"] = {k: str(v) for k, v in self.aux.items()}
        return out

    @classmethod
    def from_docker(cls, doc: dict[str, Any]) -> Subnet:
        return cls(
            subnet=ipaddress.ip_network(doc["Subnet"]),
            gateway=ipaddress.ip_address(doc["Gateway"]),
            ip_range=ipaddress.ip_network(doc["IPRange"]) if doc.get("IPRange") else None,
            aux={k: ipaddress.ip_address(v) for k, v in (doc.get("AuxiliaryAddresses") or {})
                 .items()},
        )


def _network(text: str, what: str = "CIDR address") -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None


def _address(text: str, what: str) -> Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None


def host_routes() -> list[Network]:
    """Destinations of the host's IPv4 and IPv6 routes (default routes left out)."""
    routes: list[Network] = []
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            dest = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
            mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
            if int(mask):
                routes.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    except OSError:
        pass
    try:
        for line in Path("/proc/net/ipv6_route").read_text().splitlines():
            fields = line.split()
            plen = int(fields[1], 16)
            if plen and not fields[0].startswith("fe80"):
                routes.append(ipaddress.ip_network(
                    f"{ipaddress.IPv6Address(bytes.fromhex(fields[0]))}/{plen}", strict=False))
    except OSError:
        pass
    return routes


def _overlaps(a: Network, others: Iterable[Network]) -> bool:
    return any(a.version == b.version and a.overlaps(b) for b in others)  # type: ignore[arg-type]


def default_subnet(taken: Iterable[Network]) -> Network:
    """The first default pool that overlaps no network of ours, no host route and not
    Docker's default bridge."""
    busy = [*taken, *host_routes(), DOCKER_BRIDGE_SUBNET]
    for pool in DEFAULT_POOLS:
        if not _overlaps(pool, busy):
            return pool
    raise Unavailable(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


def default_ipv6_subnet(network_id: str) -> Network:
    digest = hashlib.sha256(network_id.encode()).hexdigest()
    return ipaddress.ip_network(
        f"{ULA_PREFIX}{digest[:2]}:{digest[2:6]}:{digest[6:10]}:{digest[10:14]}::/64")


def build_config(
    entries: list[dict[str, Any]], *, taken: Iterable[Network], ipv6: bool, network_id: str,
) -> list[Subnet]:
    """``IPAM.Config`` of a new network: the requested entries checked (subnet syntax,
    gateway, range and auxiliary addresses inside their subnet, no overlap with ``taken``
    or the host's routes), plus a default IPv4 pool when none was asked for and an IPv6 one
    when ``ipv6`` is set and none was given."""
    taken = list(taken)
    subnets: list[Subnet] = []
    for entry in entries:
        if not entry.get("Subnet"):
            if entry.get("Gateway") or entry.get("IPRange"):
                raise InvalidParameter("ipam config: a gateway or range needs a subnet")
            continue
        subnet = _network(entry["Subnet"])
        if _overlaps(subnet, [*taken, *(s.subnet for s in subnets)]):
            raise Forbidden("Pool overlaps with other one on this address space")
        ip_range = None
        if entry.get("IPRange"):
            ip_range = _network(entry["IPRange"])
            if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
                raise InvalidParameter(f"no matching subnet for range {entry['IPRange']}")
        if entry.get("Gateway"):
            gateway = _address(entry["Gateway"], "gateway address")
            if gateway not in subnet:
                # Docker's text; its status (500) would blame the daemon for the request.
                raise InvalidParameter(f"failed to allocate gateway ({entry['Gateway']}): "
                                       "Requested address is out of range")
        else:
            gateway = next(subnet.hosts())
        aux: dict[str, Address] = {}
        for name, text in (entry.get("AuxiliaryAddresses") or {}).items():
            address = _address(text, "auxiliary address")
            if address not in subnet:
                raise InvalidParameter(f"no matching subnet for aux-address {text}")
            aux[name] = address
        subnets.append(Subnet(subnet, gateway, ip_range, aux))
    if not any(s.version == 4 for s in subnets):
        pool = default_subnet([*taken, *(s.subnet for s in subnets)])
        subnets.insert(0, Subnet(pool, next(pool.hosts())))
    if ipv6 and not any(s.version == 6 for s in subnets):
        pool = default_ipv6_subnet(network_id)
        subnets.append(Subnet(pool, next(pool.hosts())))
    for s in subnets:
        if s.version == 6 and s.subnet.prefixlen > 126:
            raise InvalidParameter(f"invalid IPv6 subnet {s.subnet}: too small")
        if s.version == 4 and s.subnet.prefixlen > 30:
            raise InvalidParameter(f"invalid subnet {s.subnet}: too small")
    return subnets


def check_static(subnets: list[Subnet], text: str) -> Address:
    """A container's ``--ip``/``--ip6``: syntax and subnet membership."""
    address = _address(text, "IP address")
    if not any(address in s.subnet for s in subnets):
        raise InvalidParameter(
            f"Invalid address {text}: It does not belong to any of this network's subnets")
    return address


def allocate(subnet: Subnet, used: set[Address], requested: Address | None = None) -> Address:
    """A free address of ``subnet`` (the requested one if given and free). ``used`` holds
    the addresses of the network's endpoints; the gateway and auxiliary ones are reserved."""
    busy = used | subnet.reserved()
    if requested is not None:
        if requested in busy or requested in (subnet.subnet.network_address,
                                              subnet.subnet.broadcast_address):
            raise Forbidden("Address already in use")
        return requested
    pool = subnet.ip_range or subnet.subnet
    start = int(pool.network_address) + 1
    end = int(pool.broadcast_address) - (1 if pool.version == 4 else 0)
    for value in range(start, end + 1):
        candidate = ipaddress.ip_address(value)
        if candidate not in busy and candidate not in (subnet.subnet.network_address,
                                                       subnet.subnet.broadcast_address):
            return candidate
    raise Unavailable(f"no available IPv{subnet.version} addresses on this network's address "
                      f"pools: {subnet.subnet}")
