"""The RPC server a manager runs on its ``--listen-addr`` (2377 by default): gRPC over TLS
with per-method access rules.

Each ``Method`` names who may call it: ``ANYONE`` (the CA's methods a joining node calls
before it has a certificate: the token is its credential), ``NODE`` (a certificate of this
cluster, worker or manager) or ``MANAGER`` (a manager's certificate). A call that breaks
its rule is refused with PERMISSION_DENIED and logged with the caller's identity and
address. Before that, the TLS handshake refuses certificates that do not chain to this
cluster's root or have expired; the server makes each connection TLS itself
(``_TLSAcceptor``) so that those refusals are logged too (asyncio's own TLS server drops
them silently).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream

from minke import errors
from minke.swarm.rpc.codec import JSONCodec
from minke.swarm.rpc.status import to_grpc
from minke.swarm.rpc.tls import Identity

log = logging.getLogger(__name__)

ANYONE, NODE, MANAGER = "anyone", "node", "manager"


@dataclass(frozen=True)
class Call:
    """What a handler knows of its caller."""

    identity: Identity
    addr: str  # the peer's IP address


Unary = Callable[[Call, Any], Awaitable[Any]]
Streaming = Callable[[Call, Any], AsyncGenerator[Any, None]]


@dataclass(frozen=True)
class Method:
    """``name`` is the gRPC path (``/minke.swarm.Dispatcher/Session``); ``handler`` answers
    one message (``stream=False``) or yields a stream of them."""

    name: str
    handler: Unary | Streaming
    access: str
    stream: bool = False


HANDSHAKE_TIMEOUT = 10.0  # seconds for a client to complete its TLS handshake


class _Handoff(asyncio.Protocol):
    """Sits between the TLS layer and the gRPC protocol: asyncio hands decrypted data over
    as soon as the handshake ends, before ``start_tls`` returns the transport the gRPC
    protocol must be given first; what comes meanwhile waits here."""

    def __init__(self, app: asyncio.Protocol) -> None:
        self.app = app
        self.ready = False
        self._pending: list[bytes] = []
        self._eof = False

    def start(self, transport: asyncio.BaseTransport) -> None:
        self.app.connection_made(transport)
        self.ready = True
        for data in self._pending:
            self.app.data_received(data)
        self._pending.clear()
        if self._eof:
            self.app.eof_received()

    def data_received(self, data: bytes) -> None:
        if self.ready:
            self.app.data_received(data)
        else:
            self._pending.append(data)

    def eof_received(self) -> bool | None:
        if self.ready:
            return self.app.eof_received()
        self._eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready:
            self.app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.ready:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.ready:
            self.app.resume_writing()


class _TLSAcceptor(asyncio.Protocol):
    """A TCP connection until its TLS handshake is done; then the gRPC protocol's."""

    def __init__(self, make_app: Callable[[], asyncio.Protocol], tls: ssl.SSLContext) -> None:
        self._make_app, self._tls = make_app, tls
        self._upgrading: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # the ClientHello waits for the TLS layer
        self._upgrading = asyncio.ensure_future(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        addr = (transport.get_extra_info("peername") or ("?",))[0]
        handoff = _Handoff(self._make_app())
        try:
            secured = await loop.start_tls(transport, handoff, self._tls, server_side=True,
                                           ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (OSError, TimeoutError, EOFError) as exc:
            why = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or \
                str(exc) or type(exc).__name__
            log.warning("swarm rpc: refused a connection from %s: TLS handshake failed: %s",
                        addr, why)
            transport.close()
            return
        if secured is None:  # the peer went away meanwhile
            transport.close()
            return
        handoff.start(secured)

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # before the handshake: nothing to tell; after it, the app gets the news


class _Server(Server):
    """grpclib's server with the TLS layer of ``_TLSAcceptor``."""

    def __init__(self, handlers: list[Any], *, tls: ssl.SSLContext) -> None:
        super().__init__(handlers, codec=JSONCodec())
        self._tls = tls

    def _protocol_factory(self) -> Any:
        return _TLSAcceptor(super()._protocol_factory, self._tls)


class RPCServer:
    """Serves ``methods`` for the cluster ``cluster_id`` with the SSL context ``tls``."""

    def __init__(self, methods: list[Method], *, cluster_id: str,
                 tls: ssl.SSLContext) -> None:
        self.methods = {m.name: m for m in methods}
        self.cluster_id = cluster_id
        self.tls = tls  # reloaded in place when the node's certificate is renewed
        self._server = _Server([self], tls=tls)

    def __mapping__(self) -> dict[str, Handler]:
        out = {}
        for method in self.methods.values():
            cardinality = Cardinality.UNARY_STREAM if method.stream else \
                Cardinality.UNARY_UNARY
            out[method.name] = Handler(self._handler(method), cardinality, None, None)
        return out

    async def start(self, host: str, port: int) -> None:
        try:
            await self._server.start(host, port, reuse_address=True)
        except OSError as exc:  # dockerd's words: "listen tcp 0.0.0.0:2377: bind: …"
            raise errors.Unavailable(f"listen tcp {host}:{port}: {exc.strerror or exc}") \
                from exc

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def check(self, method: Method, identity: Identity) -> str:
        """Why ``identity`` may not call ``method``, or ""."""
        if method.access == ANYONE:
            return ""
        if not identity.node_id:
            return "a node certificate is required"
        if identity.cluster_id != self.cluster_id:
            return f"certificate of cluster {identity.cluster_id!r}, not of this cluster"
        if method.access == MANAGER and identity.role != "manager":
            return f"{method.name} is only for managers, the caller is a {identity.role}"
        return ""

    def _handler(self, method: Method) -> Callable[[Stream[Any, Any]], Awaitable[None]]:
        async def handle(stream: Stream[Any, Any]) -> None:
            identity = Identity.from_peer(stream.peer.cert())
            addr = (stream.peer.addr() or ("", 0))[0]
            refusal = self.check(method, identity)
            if refusal:
                log.warning("swarm rpc: refused %s from %s (node %s, %s): %s", method.name,
                            addr, identity.node_id or "-", identity.role or "anonymous",
                            refusal)
                raise GRPCError(Status.PERMISSION_DENIED, f"permission denied: {refusal}")
            request = await stream.recv_message()
            call = Call(identity, addr)
            try:
                if method.stream:
                    # closed here, not left to the garbage collector, when the call is
                    # cancelled while a reply is being sent: its cleanup runs at once
                    replies = cast(AsyncGenerator[Any, None], method.handler(call, request))
                    async with contextlib.aclosing(replies):
                        async for reply in replies:
                            await stream.send_message(reply)
                else:
                    await stream.send_message(await method.handler(call, request))  # type: ignore[misc]
            except errors.MinkeError as exc:
                if isinstance(exc, errors.Forbidden | errors.Unauthorized):
                    log.warning("swarm rpc: refused %s from %s (node %s): %s", method.name,
                                addr, identity.node_id or "-", exc.message)
                raise to_grpc(exc) from exc
        return handle
