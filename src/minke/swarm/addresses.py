"""The addresses ``swarm init`` records: the listen address (``host:port``, the host an IP
or an interface name, port 2377 by default) and the address to advertise, chosen as dockerd
chooses it, with dockerd's messages for what cannot be used."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

from minke import errors

DEFAULT_PORT = 2377
_SIOCGIFADDR = 0x8915


def split_addr(addr: str, default_port: int = DEFAULT_PORT, *, what: str) -> tuple[str, int]:
    """(host, port) of ``host[:port]`` (``[v6]:port`` for IPv6); ``host`` may be empty."""
    host, port = addr, default_port
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), addr, what)
    elif addr.count(":") == 1:
        host, _, raw = addr.partition(":")
        port = _port(raw, addr, what)
    return host, port


def _port(raw: str, addr: str, what: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise errors.InvalidParameter(f"could not parse {what} address {addr}")
    return int(raw)


def resolve_host(host: str, *, error: str) -> str:
    """An IP address as given, or the IPv4 address of the interface named ``host``."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        socket.if_nametoindex(host)
    except OSError:
        raise errors.InvalidParameter(error) from None
    address = interface_ipv4(host)
    if address is None:
        raise errors.InvalidParameter(f"interface {host} has no usable IPv4 or IPv6 address")
    return address


def interface_ipv4(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(raw[20:24])


def default_route_address() -> str | None:
    """The source address the kernel picks for the default route; no packet is sent (a
    UDP socket's connect only selects a route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        except OSError:
            return None
        return s.getsockname()[0]


def listen_address(addr: str) -> tuple[str, int]:
    """``ListenAddr`` resolved: (IP, port); the host 0.0.0.0 when only ``:port`` is given."""
    host, port = split_addr(addr, what="listen")
    host = resolve_host(host or "0.0.0.0", error="listen address must be an IP address or "
                        "network interface (with optional port number)")
    return host, port


def advertise_address(addr: str, listen_host: str, listen_port: int) -> tuple[str, int]:
    """``AdvertiseAddr`` resolved: as given (IP or interface, port defaulting to the listen
    port), else the listen host if it is specific, else the default route's address."""
    bad = ("advertise address must be a non-zero IP address or network interface (with "
           "optional port number)")
    if addr:
        host, port = split_addr(addr, listen_port, what="advertise")
        host = resolve_host(host, error=bad)
        if ipaddress.ip_address(host).is_unspecified:
            raise errors.InvalidParameter(bad)
        return host, port
    if not ipaddress.ip_address(listen_host).is_unspecified:
        return listen_host, listen_port
    host = default_route_address()
    if host is None:
        raise errors.InvalidParameter("could not find the system's IP address")
    return host, listen_port


def join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
