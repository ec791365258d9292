"""Where the daemon is and how to open a connection to it.

Owns the host string (``unix://`` or ``tcp://``), the choice of the default (flags, then
``MINKE_HOST``, ``DOCKER_HOST``), HTTP/1.1 connections (``http11``) over AF_UNIX, TCP or TCP
with TLS (``tls``), and reading the ``{"message": ...}`` body of a failed response. Knows
nothing of the Docker API's endpoints.
"""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import urlsplit

from minke import errors

from . import tls as _tls
from .http11 import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_HOST = "unix:///run/minke/minke.sock"
PLAIN_PORT = 2375
TLS_PORT = 2376
HOST_ENV_VARS = ("MINKE_HOST", "DOCKER_HOST")
CONNECT_TIMEOUT = 10.0  # s; only for connecting, streams then block as long as they need


class ConnectionFailed(errors.Unavailable):
    """The daemon's socket cannot be reached (not running, wrong path, no permission)."""

    def __init__(self, host: str, reason: str = "", message: str = "") -> None:
        super().__init__(
            message or f"Cannot connect to the minke daemon at {host}. Is the minke daemon "
            "running?"
        )
        self.host = host
        self.reason = reason


def connection_failed(host: Host, exc: BaseException) -> ConnectionFailed:
    """The error for an exchange with ``host`` that failed with ``exc``. A TLS failure (a
    refused certificate, an unknown CA) says so: "is the daemon running?" would mislead."""
    if host.tls is not None and _tls.is_tls_error(exc):
        return ConnectionFailed(host.url, str(exc), f"error during connect: {host.url}: {exc}")
    return ConnectionFailed(host.url, str(exc))


class Host:
    """A parsed daemon address: ``scheme`` is "unix" (``address`` a path) or "tcp", the
    latter with ``tls`` options when the connection is to be encrypted."""

    __slots__ = ("url", "scheme", "address", "port", "tls")

    def __init__(self, url: str, scheme: str, address: str, port: int = 0,
                 tls: _tls.TLSOptions | None = None) -> None:
        self.url = url
        self.scheme = scheme
        self.address = address
        self.port = port
        self.tls = tls

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Host) and (self.scheme, self.address, self.port) == (
            other.scheme, other.address, other.port)

    def __hash__(self) -> int:
        return hash((self.scheme, self.address, self.port))

    def __repr__(self) -> str:
        return f"Host({self.url!r})"

    @classmethod
    def parse(cls, url: str, tls: _tls.TLSOptions | None = None) -> Host:
        """``url`` as a host; ``tls`` applies to TCP (whose default port it makes 2376)."""
        if url.startswith("/"):
            url = "unix://" + url
        parts = urlsplit(url)
        if parts.scheme == "unix":
            path = parts.path or parts.netloc
            if not path:
                raise ValueError(f"invalid host {url!r}: no socket path")
            return cls(url, "unix", path)
        if parts.scheme in ("tcp", "http", "https"):
            if not parts.hostname:
                raise ValueError(f"invalid host {url!r}: no address")
            try:
                port = parts.port
            except ValueError:
                raise ValueError(f"invalid host {url!r}: bad port") from None
            return cls(url, "tcp", parts.hostname,
                       port or (TLS_PORT if tls else PLAIN_PORT), tls)
        raise ValueError(f"invalid host {url!r}: unsupported scheme")


def resolve_host(flag: str | None = None, environ: Mapping[str, str] | None = None, *,
                 tls: bool | None = None, tlsverify: bool | None = None,
                 cacert: str | None = None, cert: str | None = None,
                 key: str | None = None) -> Host:
    """The host from ``--host``, else ``MINKE_HOST``, else ``DOCKER_HOST``, else the default;
    for TCP, TLS from the flags (``None`` = not given) and ``DOCKER_TLS``,
    ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` (see ``tls.tls_options``)."""
    env = os.environ if environ is None else environ
    url = flag or next((env[name] for name in HOST_ENV_VARS if env.get(name)), DEFAULT_HOST)
    if url.startswith("unix://") or url.startswith("/"):
        return Host.parse(url)
    if url.startswith("https://") and tls is None:
        tls = True
    return Host.parse(url, _tls.tls_options(env, tls=tls, tlsverify=tlsverify, cacert=cacert,
                                            cert=cert, key=key))


def open_socket(host: Host) -> socket.socket:
    """A connected socket to ``host``, or ``ConnectionFailed``."""
    try:
        if host.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT)
            try:
                sock.connect(host.address)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((host.address, host.port), CONNECT_TIMEOUT)
            if host.tls is not None:
                sock = _wrap(sock, host, host.tls)
    except OSError as exc:
        raise connection_failed(host, exc) from exc
    sock.settimeout(None)
    return sock


def _wrap(sock: socket.socket, host: Host, options: _tls.TLSOptions) -> socket.socket:
    try:
        return _tls.wrap(sock, options, host.address)
    except _tls.TLSFileError as exc:
        sock.close()
        raise ConnectionFailed(host.url, str(exc), str(exc)) from exc
    except BaseException:
        sock.close()
        raise


class HostConnection(Connection):
    """A keep-alive HTTP connection whose socket comes from ``open_socket`` (unix or tcp)."""

    def __init__(self, host: Host) -> None:
        # The Host header is informational for a unix socket; docker sends "api.moby.localhost".
        super().__init__(
            lambda: open_socket(host),
            "api.moby.localhost" if host.scheme == "unix" else host.address,
        )
        self.minke_host = host


def error_message(raw: bytes, status: int) -> str:
    """The daemon's ``{"message": ...}`` text, or the raw body if it is not JSON."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text or f"HTTP status {status}"
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return doc["message"]
    return text
