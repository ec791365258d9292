"""Where a repository lives: reference domain → registry endpoint, scheme and TLS settings.

Follows dockerd's rules: ``docker.io`` is served by ``registry-1.docker.io``; a registry is
*insecure* (plain HTTP allowed, certificates not verified) when named in
``--insecure-registry`` (a host[:port] or a CIDR) or when its address is in 127.0.0.0/8,
which is insecure by default; every other registry is HTTPS with the system roots plus
``<certs-dir>/<host[:port]>/*.crt`` as extra CAs and ``*.cert``/``*.key`` pairs as client
certificates (``/etc/docker/certs.d`` by default, as docker reads it).

For an insecure registry dockerd tries HTTPS first and falls back to HTTP; so does
``Endpoint.urls``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from minke.engine.images.reference import DEFAULT_DOMAIN

HUB_REGISTRY = "registry-1.docker.io"
DEFAULT_CERTS_DIR = Path("/etc/docker/certs.d")
DEFAULT_INSECURE_CIDRS = ("127.0.0.0/8",)


@dataclass(frozen=True)
class Endpoint:
    """One registry as the client talks to it."""

    domain: str  # as in the reference: docker.io, localhost:5000
    host: str  # host[:port] connected to: registry-1.docker.io, localhost:5000
    insecure: bool
    tls: ssl.SSLContext | None = field(default=None, compare=False)

    def urls(self) -> list[str]:
        """Base URLs in the order to try: HTTPS, then HTTP for an insecure registry."""
        base = [f"https://{self.host}"]
        return base + [f"http://{self.host}"] if self.insecure else base


class RegistryConfig:
    """The daemon's registry settings (``--insecure-registry``, the certs directory)."""

    def __init__(self, *, insecure: tuple[str, ...] | list[str] = (),
                 certs_dir: Path = DEFAULT_CERTS_DIR) -> None:
        self.certs_dir = certs_dir
        self._system: ssl.SSLContext | None = None  # the system roots, loaded on first use
        self._hosts: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in (*DEFAULT_INSECURE_CIDRS, *insecure):
            item = item.split("://", 1)[-1].rstrip("/")
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._hosts.add(item)

    @property
    def insecure_cidrs(self) -> list[str]:
        return [str(n) for n in self._networks]

    @property
    def insecure_hosts(self) -> list[str]:
        return sorted(self._hosts)

    def endpoint(self, domain: str) -> Endpoint:
        host = HUB_REGISTRY if domain == DEFAULT_DOMAIN else domain
        insecure = self.is_insecure(host)
        return Endpoint(domain, host, insecure, self._tls(host, insecure))

    def is_insecure(self, host: str) -> bool:
        if host in self._hosts or host.rsplit(":", 1)[0] in self._hosts:
            return True
        name = _hostname(host)
        for address in _addresses(name):
            if any(address in net for net in self._networks if net.version == address.version):
                return True
        return False

    def _tls(self, host: str, insecure: bool) -> ssl.SSLContext:
        directory = self.certs_dir / host
        if insecure:
            # Nothing is verified, so the system roots are not loaded: that alone takes
            # ~70 ms, a twentieth of a 100 MB pull.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif not directory.is_dir():
            # The common case: the system roots only. Loaded once per daemon (as Go's
            # SystemCertPool is) and shared; an SSLContext is safe to share.
            if self._system is None:
                self._system = ssl.create_default_context()
            return self._system
        else:
            context = ssl.create_default_context()
        if directory.is_dir():
            for ca in sorted(directory.glob("*.crt")):
                context.load_verify_locations(cafile=str(ca))
            for cert in sorted(directory.glob("*.cert")):
                key = cert.with_suffix(".key")
                if key.exists():
                    context.load_cert_chain(str(cert), str(key))
        return context


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _addresses(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(name)]
    except ValueError:
        pass
    if name == "localhost":
        return [ipaddress.ip_address("127.0.0.1")]
    # dockerd resolves the name too, so that a name for a loopback address counts. This
    # may ask DNS: callers on the event loop run ``RegistryConfig.endpoint`` in a thread.
    try:
        infos = socket.getaddrinfo(name, None, flags=socket.AI_NUMERICSERV)
    except (OSError, UnicodeError):
        return []
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0]))
        except ValueError:
            continue
    return out
