"""Where the daemon is and how to open a connection to it.

Owns the host string (``unix://`` or ``tcp://``), the choice of the default, plain
HTTP/1.1 connections (``http11``) over AF_UNIX or TCP, and reading the ``{"message": ...}`` body
of a failed response. Knows nothing of the Docker API's endpoints.
"""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import urlsplit

from minke import errors

from .http11 import Connection

DEFAULT_HOST = "unix:///run/minke/minke.sock"
HOST_ENV_VARS = ("MINKE_HOST", "DOCKER_HOST")
CONNECT_TIMEOUT = 10.0  # s; only for connecting, streams then block as long as they need


class ConnectionFailed(errors.Unavailable):
    """The daemon's socket cannot be reached (not running, wrong path, no permission)."""

    def __init__(self, host: str, reason: str = "") -> None:
        super().__init__(
            f"Cannot connect to the minke daemon at {host}. Is the minke daemon running?"
        )
        self.host = host
        self.reason = reason


class Host:
    """A parsed daemon address: ``scheme`` is "unix" (``address`` a path) or "tcp"."""

    __slots__ = ("url", "scheme", "address", "port")

    def __init__(self, url: str, scheme: str, address: str, port: int = 0) -> None:
        self.url = url
        self.scheme = scheme
        self.address = address
        self.port = port

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Host) and (self.scheme, self.address, self.port) == (
            other.scheme, other.address, other.port)

    def __hash__(self) -> int:
        return hash((self.scheme, self.address, self.port))

    def __repr__(self) -> str:
        return f"Host({self.url!r})"

    @classmethod
    def parse(cls, url: str) -> Host:
        if url.startswith("/"):
            url = "unix://" + url
        parts = urlsplit(url)
        if parts.scheme == "unix":
            path = parts.path or parts.netloc
            if not path:
                raise ValueError(f"invalid host {url!r}: no socket path")
            return cls(url, "unix", path)
        if parts.scheme in ("tcp", "http"):
            if not parts.hostname:
                raise ValueError(f"invalid host {url!r}: no address")
            return cls(url, "tcp", parts.hostname, parts.port or 2375)
        raise ValueError(f"invalid host {url!r}: unsupported scheme")


def resolve_host(flag: str | None = None, environ: dict[str, str] | None = None) -> Host:
    """The host from ``--host``, else ``MINKE_HOST``, else ``DOCKER_HOST``, else the default."""
    env = os.environ if environ is None else environ
    if flag:
        return Host.parse(flag)
    for name in HOST_ENV_VARS:
        value = env.get(name)
        if value:
            return Host.parse(value)
    return Host.parse(DEFAULT_HOST)


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
    except OSError as exc:
        raise ConnectionFailed(host.url, str(exc)) from exc
    sock.settimeout(None)
    return sock


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
