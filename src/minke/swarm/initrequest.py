"""A ``swarm init`` request, validated and resolved before anything is written, with
dockerd's checks and messages (and its statuses, a 500 for two of them)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from minke import errors
from minke.swarm import addresses
from minke.swarm.manager import spec as specs

DATA_PATH_PORTS = range(1024, 49152)
DEFAULT_DATA_PATH_PORT = 4789
DEFAULT_SUBNET_SIZE = 24


@dataclass(frozen=True)
class InitRequest:
    listen_addr: str  # host:port, resolved
    advertise_addr: str  # host:port, resolved
    data_path_addr: str
    data_path_port: int
    default_addr_pool: list[str] | None
    subnet_size: int
    availability: str
    autolock: bool
    spec: specs.Spec

    @classmethod
    def parse(cls, request: dict[str, Any]) -> InitRequest:
        listen_addr = _text(request, "ListenAddr")
        if not listen_addr:
            raise errors.InvalidParameter('invalid ListenAddr "": invalid empty address')
        listen_host, listen_port = addresses.listen_address(listen_addr)
        advertise_host, advertise_port = addresses.advertise_address(
            _text(request, "AdvertiseAddr"), listen_host, listen_port)
        data_path_addr = _text(request, "DataPathAddr")
        if data_path_addr:
            data_path_addr = addresses.resolve_host(
                data_path_addr, error="data path address must be a non-zero IP address or "
                "network interface (without a port number)")
        port = request.get("DataPathPort") or DEFAULT_DATA_PATH_PORT
        if not isinstance(port, int) or port not in DATA_PATH_PORTS:
            # dockerd answers this one and a bad Availability with a 500
            raise errors.InternalError(
                f"Datapath port number is not in valid range (1024-49151) : {port}")
        subnet = request.get("SubnetSize") or DEFAULT_SUBNET_SIZE
        if not isinstance(subnet, int) or not 0 < subnet <= 29:
            raise errors.InvalidParameter(f"subnet size is out of range: {subnet}")
        pools = request.get("DefaultAddrPool") or None
        if pools is not None:
            _check_pools(pools, subnet)
        availability = request.get("Availability") or "active"
        if availability not in specs.AVAILABILITIES:
            raise errors.InternalError(f'invalid Availability: "{availability}"')
        autolock = request.get("AutoLockManagers") or False
        if not isinstance(autolock, bool):
            raise errors.InvalidParameter("invalid AutoLockManagers: a boolean is expected")
        return cls(listen_addr=addresses.join(listen_host, listen_port),
                   advertise_addr=addresses.join(advertise_host, advertise_port),
                   data_path_addr=data_path_addr, data_path_port=port,
                   default_addr_pool=pools, subnet_size=subnet, availability=availability,
                   autolock=autolock, spec=specs.merge_init_spec(request.get("Spec"), autolock))


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key) or ""
    if not isinstance(value, str):
        raise errors.InvalidParameter(f"invalid {key}: a string is expected")
    return value


def _check_pools(pools: Any, subnet: int) -> None:
    if not isinstance(pools, list):
        raise errors.InvalidParameter("invalid DefaultAddrPool: a list of CIDRs is expected")
    for pool in pools:
        try:
            network = ipaddress.ip_network(pool, strict=False)
        except (TypeError, ValueError):
            raise errors.InvalidParameter(f"invalid CIDR: {pool!r}") from None
        if network.prefixlen > subnet:
            raise errors.InvalidParameter(
                f'invalid CIDR: "{pool}". Subnet size is too small for pool: {subnet}')
