"""Where the etcd cluster store lives and how minke talks to it: the ``--cluster-store``
address (``etcd://h1:2379,h2:2379[/prefix]``), its TLS files, and an ``aetcd`` client on a
gRPC channel to all the endpoints (plain, or mutual TLS when a CA is given).

aetcd connects to one ``host:port`` over a plain channel only; ``Client`` keeps aetcd's
stubs, watcher and error mapping and builds the channel itself: every endpoint in one
gRPC target (``pick_first`` fails over to the next address when one stops answering) and
TLS credentials from the files given.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc, watcher

from minke import errors

DEFAULT_PREFIX = "/minke/"
HAS_LEADER = (("hasleader", "true"),)  # gRPC metadata: fail rather than wait without a leader
SCHEME = "etcd"


@dataclass(frozen=True)
class EtcdConfig:
    """A parsed ``--cluster-store`` address with its TLS files."""

    endpoints: tuple[tuple[str, int], ...]
    prefix: str = DEFAULT_PREFIX
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def url(self) -> str:
        hosts = ",".join(_hostport(h, p) for h, p in self.endpoints)
        return f"{SCHEME}://{hosts}{self.prefix.rstrip('/')}"

    @classmethod
    def parse(cls, url: str, *, cacert: str | Path | None = None,
              cert: str | Path | None = None, key: str | Path | None = None) -> EtcdConfig:
        """``etcd://h1:2379,h2:2379/prefix``; errors name the setting at fault."""
        parts = urlsplit(url)
        if parts.scheme != SCHEME or not parts.netloc:
            raise errors.InvalidParameter(
                f"cluster-store: {url!r} is not an etcd://host:port[,host:port...][/prefix] "
                "address")
        endpoints = tuple(_endpoint(e, url) for e in parts.netloc.split(","))
        path = parts.path.strip("/")
        prefix = f"/{path}/" if path else DEFAULT_PREFIX
        files = {"cluster-store-cacert": cacert, "cluster-store-cert": cert,
                 "cluster-store-key": key}
        for name, value in files.items():
            if value is not None and not Path(value).is_file():
                raise errors.InvalidParameter(f"{name}: {value} is not a readable file")
        if (cert is None) != (key is None):
            raise errors.InvalidParameter(
                "cluster-store-cert and cluster-store-key go together: give both or neither")
        if cert is not None and cacert is None:
            raise errors.InvalidParameter(
                "cluster-store-cert needs cluster-store-cacert (the CA of the etcd servers)")
        return cls(endpoints, prefix, *(Path(v) if v is not None else None
                                         for v in (cacert, cert, key)))


def _endpoint(text: str, url: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, "2379"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise errors.InvalidParameter(f"cluster-store: bad endpoint {text!r} in {url!r}")
    return host, int(port)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _target(endpoints: tuple[tuple[str, int], ...]) -> tuple[str, str | None]:
    """A gRPC target naming every endpoint, and the TLS name to check when the endpoints
    had to be resolved to addresses (gRPC lists several endpoints by address only)."""
    if len(endpoints) == 1:
        return _hostport(*endpoints[0]), None
    addresses, server_name = [], None
    for host, port in endpoints:
        try:
            ipaddress.ip_address(host)
            addresses.append((host, port))
        except ValueError:
            server_name = server_name or host
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses.extend((info[4][0], port) for info in infos)
    family = "ipv6" if all(":" in h for h, _ in addresses) else "ipv4"
    kept = [(h, p) for h, p in addresses if (":" in h) == (family == "ipv6")]
    return f"{family}:" + ",".join(_hostport(h, p) for h, p in kept), server_name


class Client(aetcd.Client):
    """aetcd's client on a channel to every endpoint, with TLS when configured."""

    def __init__(self, config: EtcdConfig, *, timeout: float = 5.0) -> None:
        host, port = config.endpoints[0]
        super().__init__(host=host, port=port, timeout=timeout)  # type: ignore[arg-type]
        self.config = config

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        # Channel creation does no I/O; the first call connects (one connect, no race).
        target, server_name = _target(self.config.endpoints)
        options: list[tuple[str, object]] = [("grpc.max_receive_message_length", 64 << 20)]
        if self.config.cacert is None:
            self.channel = rpc.insecure_channel(target, options=options)
        else:
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            creds = grpc.ssl_channel_credentials(
                root_certificates=self.config.cacert.read_bytes(),
                private_key=self.config.key.read_bytes() if self.config.key else None,
                certificate_chain=self.config.cert.read_bytes() if self.config.cert else None)
            self.channel = rpc.secure_channel(target, creds, options=options)
        # etcd's "require leader" (clientv3's WithRequireLeader) on aetcd's calls: a member
        # cut off from its cluster fails them at once and ends our watches, instead of
        # leaving keep-alives to time out and watches silent.
        self.metadata = HAS_LEADER
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = watcher.Watcher(rpc.WatchStub(self.channel), timeout=self._timeout,
                                        metadata=self.metadata)
        self._connected.set()


def unavailable(config: EtcdConfig, exc: BaseException) -> errors.Unavailable:
    """A client or RPC failure as the error users see (503)."""
    detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
    detail = detail or type(exc).__name__
    if isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.Unavailable(f"cluster store {config.url}: no answer in time: the etcd "
                                  "cluster has no quorum or cannot be reached")
    # A member without quorum times out the proposal itself ("context deadline exceeded").
    if "no leader" in detail or "timed out" in detail or "deadline exceeded" in detail:
        return errors.Unavailable(f"cluster store {config.url}: the etcd cluster has no "
                                  f"quorum ({detail})")
    return errors.Unavailable(f"cluster store {config.url} does not answer: {detail}")
