"""Published ports: from ``HostConfig.PortBindings``/``PublishAllPorts`` to host ports.

Owns the host side of ``-p [ip:][hostPort:]containerPort[/proto]`` and ``-P``: parsing the
bindings, choosing host ports (a fixed one, the first free one of a range, or a free one
from the ephemeral range for ``-P`` and empty host ports), checking each is free on the host
by binding it, and remembering which ports this daemon holds. The packets themselves are
steered by the kernel (DNAT rules from ``firewall.py``); no process sits on the data path.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.errors import InternalError, InvalidParameter

# Docker 20.10 hands out -P ports from 49153 up (the kernel's ephemeral range, at most).
DEFAULT_RANGE = (49153, 65535)


@dataclass(frozen=True)
class Binding:
    """One published port after allocation."""

    proto: str
    container_port: int
    host_ip: str
    host_port: int


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return DEFAULT_RANGE
    return max(low, DEFAULT_RANGE[0]), min(high, DEFAULT_RANGE[1])


def _parse_range(key: str) -> tuple[int, int, str]:
    """``"80/tcp"`` → (80, 80, "tcp"); ``"9091-9092"`` → (9091, 9092, "tcp")."""
    ports, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    first, dash, last = ports.partition("-")
    last = last if dash else first
    if proto not in ("tcp", "udp", "sctp") or not first.isdigit() or not last.isdigit() \
            or not 0 < int(first) <= int(last) < 65536:
        raise InvalidParameter(f"invalid port specification: {key!r}")
    if proto == "sctp":
        raise InvalidParameter(f"invalid port specification: {key!r}: sctp is not supported")
    return int(first), int(last), proto


def _parse_key(key: str) -> tuple[int, str]:
    """A published port (a ``PortBindings`` key): one port, as Docker's validation has it."""
    first, last, proto = _parse_range(key)
    if first != last:
        raise InvalidParameter(f"invalid port specification: {key!r}")
    return first, proto


def exposed(record: dict[str, Any]) -> list[tuple[int, str]]:
    """(port, proto) of every port in ``Config.ExposedPorts``. A range key stands for each
    of its ports: Compose v2 before 2.41 sends ``expose: ["9091-9092"]`` as the key
    ``"9091-9092"``, which the docker CLI would have sent as two keys. (dockerd 20.10 takes
    the key and makes it port 0, 29 refuses it; either way the ports are not exposed.)"""
    out = []
    for key in (record["Config"].get("ExposedPorts") or {}):
        first, last, proto = _parse_range(key)
        out += [(port, proto) for port in range(first, last + 1)]
    return out


def _host_ports(text: str) -> tuple[int, int] | None:
    """``"8080"`` → (8080, 8080); ``"8000-8010"`` → its bounds; ``""`` → None (any)."""
    if not text:
        return None
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise InvalidParameter(f"invalid host port: {text!r}") from None
    if not 0 < bounds[0] <= bounds[1] < 65536:
        raise InvalidParameter(f"invalid host port: {text!r}")
    return bounds


def requested(record: dict[str, Any]) -> list[tuple[str, int, str, tuple[int, int] | None]]:
    """(proto, container port, host ip, host port bounds or None) for every port the
    container publishes, in a stable order. ``-P`` adds every exposed port not bound."""
    host = record["HostConfig"]
    any_port = {"HostIp": "", "HostPort": ""}
    published: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for key, entries in (host.get("PortBindings") or {}).items():
        published.setdefault(_parse_key(key), []).extend(entries or [any_port])
    for port, proto in exposed(record):  # also refuses a malformed exposed port
        if host.get("PublishAllPorts"):
            published.setdefault((port, proto), [any_port])
    out = []
    for port, proto in sorted(published):
        for entry in published[(port, proto)]:
            host_ip = (entry or {}).get("HostIp") or ""
            if host_ip:
                try:
                    ipaddress.ip_address(host_ip)
                except ValueError:
                    raise InvalidParameter(f"invalid IP address: {host_ip}") from None
            out.append((proto, port, host_ip, _host_ports(str((entry or {}).get("HostPort")
                                                               or ""))))
    return out


def is_free(proto: str, host_ip: str, port: int) -> bool:
    """Whether a process could bind ``host_ip:port`` now (the host's own listeners)."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as s:
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


class PortAllocator:
    """The host ports one daemon has handed out: (proto, port) → container id."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], str] = {}

    def hold(self, container_id: str, bindings: list[Binding]) -> None:
        """Re-register bindings that are live already (after a daemon restart)."""
        for b in bindings:
            self._held[(b.proto, b.host_port)] = container_id

    def release(self, container_id: str) -> None:
        for key in [k for k, v in self._held.items() if v == container_id]:
            del self._held[key]

    def allocate(self, container_id: str, endpoint: str,
                 wanted: list[tuple[str, int, str, tuple[int, int] | None]]) -> list[Binding]:
        """Host ports for ``wanted``; all or none (a failure releases what it took)."""
        out: list[Binding] = []
        try:
            for proto, port, host_ip, bounds in wanted:
                out.append(self._one(container_id, endpoint, proto, port, host_ip, bounds))
        except BaseException:
            self.release(container_id)
            raise
        return out

    def _one(self, container_id: str, endpoint: str, proto: str, port: int, host_ip: str,
             bounds: tuple[int, int] | None) -> Binding:
        shown_ip = host_ip or "0.0.0.0"
        if bounds is None or bounds[0] != bounds[1]:
            low, high = bounds or _ephemeral_range()
            for candidate in range(low, high + 1):
                if (proto, candidate) not in self._held and is_free(proto, host_ip, candidate):
                    self._held[(proto, candidate)] = container_id
                    return Binding(proto, port, shown_ip, candidate)
            raise InternalError(
                f"Bind for {shown_ip}:{low}-{high} failed: all ports are already allocated")
        candidate = bounds[0]
        if (proto, candidate) in self._held:
            raise InternalError(
                f"Bind for {shown_ip}:{candidate} failed: port is already allocated")
        if not is_free(proto, host_ip, candidate):
            raise InternalError(
                f"driver failed programming external connectivity on endpoint {endpoint}: "
                f"Error starting userland proxy: listen {proto}4 {shown_ip}:{candidate}: "
                "bind: address already in use")
        self._held[(proto, candidate)] = container_id
        return Binding(proto, port, shown_ip, candidate)


def ports_view(record: dict[str, Any], bindings: list[Binding]) -> dict[str, Any]:
    """``NetworkSettings.Ports``: every exposed or published port, with its host bindings
    (None for exposed-only ports), as Docker shows it."""
    view: dict[str, Any] = {f"{port}/{proto}": None for port, proto in exposed(record)}
    for b in bindings:
        entries = view.get(f"{b.container_port}/{b.proto}") or []
        entries.append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
        view[f"{b.container_port}/{b.proto}"] = entries
    return view


def from_view(ports: dict[str, Any] | None) -> list[Binding]:
    """The bindings recorded in ``NetworkSettings.Ports`` (after a daemon restart)."""
    out = []
    for key, entries in (ports or {}).items():
        port, proto = _parse_key(key)
        for entry in entries or []:
            out.append(Binding(proto, port, entry["HostIp"], int(entry["HostPort"])))
    return out
