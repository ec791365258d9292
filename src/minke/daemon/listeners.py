"""Where minked listens: ``-H`` addresses, TLS on TCP, and starting the aiohttp sites.

Follows dockerd: ``-H`` may be given several times (``unix://PATH``, ``tcp://ADDR:PORT``,
or a bare ``ADDR:PORT``); ``--tlsverify`` (or ``--tls``, which since Docker 20.10 verifies
clients unless ``--tlsverify=false``) serves TCP over TLS and requires client certificates
signed by ``--tlscacert``; giving ``--tlsverify`` at all, even ``=false``, turns TLS on; the
files default to ``ca.pem``, ``cert.pem`` and ``key.pem`` in ``DOCKER_CERT_PATH`` (else
``DOCKER_CONFIG``, else ``~/.docker``). A TCP address without a port gets 2376 with TLS and
2375 without.

Plain TCP hands root on this host to whoever reaches the port. dockerd warns and, on a
non-loopback address with TLS left unset, sleeps 15 s; minked refuses to start there unless
TLS was set explicitly (``--tls=false`` is the way to insist on plain TCP).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from minke.daemon.tlsserver import TLSSite
from minke.errors import InvalidParameter

log = logging.getLogger("minked")

DEFAULT_UNIX_SOCKET = "/run/minke/minke.sock"
DEFAULT_HOST = f"unix://{DEFAULT_UNIX_SOCKET}"
DEFAULT_TLS_HOST = "tcp://localhost:2376"
PLAIN_PORT = 2375
TLS_PORT = 2376


class ListenerError(InvalidParameter):
    """A ``-H`` address or the TLS settings cannot be served; the message says which."""


@dataclass(frozen=True)
class Address:
    """One ``-H`` address: ``scheme`` "unix" (``path``) or "tcp" (``host``, ``port``)."""

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True)
class TLSSettings:
    """TLS for the TCP listeners: the files, and whether client certificates are required."""

    verify: bool
    cacert: str
    cert: str
    key: str


def default_cert_dir(environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``DOCKER_CERT_PATH``, else ``DOCKER_CONFIG``, else ``~/.docker`` (dockerd's order)."""
    env = os.environ if environ is None else environ
    for name in ("DOCKER_CERT_PATH", "DOCKER_CONFIG"):
        if env.get(name):
            return Path(env[name])
    return Path.home() / ".docker"


def parse_address(value: str, *, tls: bool) -> Address:
    """An ``-H`` value as dockerd reads it; raises ``ListenerError`` naming it."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme == "unix":
        if "://" in rest:
            raise ListenerError(f"invalid bind address ({value}): invalid unix address")
        return Address("unix", path=rest or DEFAULT_UNIX_SOCKET)
    if scheme == "fd":
        raise ListenerError(f"invalid bind address ({value}): fd:// (socket activation) "
                            "is not supported")
    if scheme != "tcp":
        raise ListenerError(f"invalid bind address ({value}): unsupported proto '{scheme}'")
    host, port = _split_host_port(value, rest)
    return Address("tcp", host=host or "localhost",
                   port=port or (TLS_PORT if tls else PLAIN_PORT))


def _split_host_port(value: str, rest: str) -> tuple[str, int]:
    if "/" in rest:
        raise ListenerError(f"invalid bind address ({value}): should not contain a path "
                            "element")
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ListenerError(f"invalid bind address ({value}): bad IPv6 address")
        port_text = tail[1:]
    else:
        host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
        if ":" in host:
            raise ListenerError(f"invalid bind address ({value}): put an IPv6 address in "
                                "brackets, as tcp://[::1]:2376")
    if not port_text:
        return host, 0
    try:
        port = int(port_text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ListenerError(f"invalid bind address ({value}): invalid port: {port_text}")
    return host, port


def resolve_tls(tls: bool | None, tlsverify: bool | None, cacert: str | None,
                cert: str | None, key: str | None,
                environ: dict[str, str] | None = None) -> TLSSettings | None:
    """The TLS settings from the flags/daemon.json (``None`` = not given), as dockerd
    derives them; ``None`` when TCP is served in the clear."""
    if tlsverify is not None:
        tls = True  # --tlsverify=false still means TLS, just without client certificates
    if not tls:
        return None
    directory = default_cert_dir(environ)
    return TLSSettings(
        verify=True if tlsverify is None else tlsverify,
        cacert=cacert or str(directory / "ca.pem"),
        cert=cert or str(directory / "cert.pem"),
        key=key or str(directory / "key.pem"),
    )


def resolve(hosts: list[str] | None, tls: bool | None, tlsverify: bool | None,
            cacert: str | None = None, cert: str | None = None, key: str | None = None,
            environ: dict[str, str] | None = None,
            ) -> tuple[list[Address], TLSSettings | None]:
    """The addresses to listen on and the TLS settings, checked: an unusable address, a
    missing certificate file or unauthenticated TCP on a public address raise
    ``ListenerError``."""
    settings = resolve_tls(tls, tlsverify, cacert, cert, key, environ)
    values = [h for h in (hosts or []) if h.strip()]
    if not values:
        values = [DEFAULT_TLS_HOST if settings else DEFAULT_HOST]
    addresses: list[Address] = []
    for value in values:
        address = parse_address(value, tls=settings is not None)
        if address not in addresses:
            addresses.append(address)
    tls_set = tls is not None or tlsverify is not None
    for address in addresses:
        if (address.scheme == "tcp" and not (settings and settings.verify) and not tls_set
                and not is_loopback(address.host)):
            raise _refusal(address)
    return addresses, settings


def _refusal(address: Address) -> ListenerError:
    return ListenerError(
        f"refusing to listen on {address} without TLS client verification: anyone who "
        "can reach it gets root on this host. Use --tlsverify with --tlscacert, --tlscert "
        "and --tlskey, or set --tls=false explicitly to serve plain TCP anyway")


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (unresolvable: no)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def server_context(settings: TLSSettings) -> ssl.SSLContext:
    """The server's TLS context: its certificate, and with ``verify`` only clients whose
    certificate the CA signed (the CA file alone is trusted, not the system's roots)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION
    _check_readable(settings.cert, "--tlscert", "certificate")
    _check_readable(settings.key, "--tlskey", "key")
    try:
        context.load_cert_chain(settings.cert, settings.key)
    except ssl.SSLError as exc:
        raise ListenerError(f"invalid TLS configuration: could not load X509 key pair "
                            f"(cert: {settings.cert}, key: {settings.key}): "
                            f"{exc.reason or exc}") from exc
    if settings.verify:
        _check_readable(settings.cacert, "--tlscacert", "CA certificate")
        try:
            context.load_verify_locations(cafile=settings.cacert)
        except ssl.SSLError as exc:
            raise ListenerError(f"invalid TLS configuration: could not read CA certificate "
                                f"{settings.cacert}: {exc.reason or exc}") from exc
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _check_readable(path: str, flag: str, what: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ListenerError(f"invalid TLS configuration: could not read {what} {path} "
                            f"({flag}): {exc.strerror}") from exc


async def start(runner: web.AppRunner, addresses: list[Address],
                context: ssl.SSLContext | None, *, group: str) -> list[web.BaseSite]:
    """Start one site per address on ``runner``; unix sockets get mode 0660 and ``group``."""
    sites: list[web.BaseSite] = []
    for address in addresses:
        try:
            site = await _start_site(runner, address, context, group)
        except OSError as exc:
            raise ListenerError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
        if address.scheme == "tcp" and not (context and context.verify_mode == ssl.CERT_REQUIRED):
            log.warning("Binding to IP address without --tlsverify is insecure and gives root "
                        "access on this machine to everyone who has access to your network. "
                        "host=%s", address)
        log.info("API listening on %s%s", address,
                 " (TLS)" if context and address.scheme == "tcp" else "")
        sites.append(site)
    return sites


async def _start_site(runner: web.AppRunner, address: Address,
                      context: ssl.SSLContext | None, group: str) -> web.BaseSite:
    site: web.BaseSite
    if address.scheme == "unix":
        path = Path(address.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_socket():
            path.unlink()
        site = web.UnixSite(runner, str(path))
        await site.start()
        os.chmod(path, 0o660)
        _chgrp(path, group)
    elif context is not None:
        site = TLSSite(runner, address.host, address.port, context)
        await site.start()
    else:
        site = web.TCPSite(runner, address.host, address.port, reuse_address=True)
        await site.start()
    return site


def _chgrp(path: Path, group: str) -> None:
    import grp

    try:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    except KeyError:
        log.warning("group %s does not exist; socket stays root:root", group)

