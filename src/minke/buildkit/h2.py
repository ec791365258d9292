"""gRPC over a connection the Docker API hijacked (``POST /grpc``, ``POST /session``).

grpclib drives HTTP/2 through h2 as a plain ``asyncio.Protocol``, so it runs over any
asyncio transport once its protocol is put in place of aiohttp's; grpcio only serves on
sockets it opens itself, which is why minke uses grpclib. Two directions:

- ``serve``: minked is the gRPC server (``/grpc``: BuildKit's control API);
- ``HijackedChannel``: minked is the gRPC client and the Docker client hosts the server
  (``/session``: file sync, secrets, ssh agent forwarding).

Both start speaking HTTP/2 right after the 101 answer (prior knowledge, as dockerd does).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from grpclib.client import Channel
from grpclib.protocol import H2Protocol
from grpclib.server import Server

from minke.api.hijack import HijackedConnection, hijack

UPGRADE = "h2c"


class _Attached(H2Protocol):
    """grpclib's protocol on a hijacked transport: lets aiohttp forget the connection when
    it ends, and says so through ``closed``."""

    previous: Any = None
    closed: asyncio.Event

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.closed.set()
        if self.previous is not None:
            self.previous.connection_lost(exc)


async def _take(request: web.Request) -> tuple[web.StreamResponse, HijackedConnection]:
    response, conn = await hijack(request, "", upgrade_to=UPGRADE)
    return response, conn


def _attach(conn: HijackedConnection, made: H2Protocol) -> _Attached:
    attached = _Attached(made.handler, made.config, made.h2_config)
    attached.previous = conn._previous
    attached.closed = asyncio.Event()
    transport = conn._transport
    transport.set_protocol(attached)
    attached.connection_made(transport)
    while not conn._buffer.empty():  # bytes that came with or right after the request
        data = conn._buffer.get_nowait()
        if data:
            attached.data_received(data)
    return attached


async def serve(request: web.Request, server: Server) -> web.StreamResponse:
    """Answer 101 and serve ``server``'s handlers on the connection until it closes."""
    response, conn = await _take(request)
    protocol = _attach(conn, server._protocol_factory())
    await protocol.closed.wait()
    return response


class HijackedChannel(Channel):
    """A grpclib channel whose one connection is a hijacked client connection."""

    def __init__(self, conn: HijackedConnection) -> None:
        super().__init__("localhost", 80)
        self._conn = conn
        self.protocol: _Attached | None = None

    async def _create_connection(self) -> H2Protocol:
        if self.protocol is not None:
            raise ConnectionResetError("the client's session connection is gone")
        self.protocol = _attach(self._conn, self._protocol_factory())
        return self.protocol

    async def open(self) -> None:
        await self.__connect__()

    async def wait_closed(self) -> None:
        assert self.protocol is not None
        await self.protocol.closed.wait()


async def client_session(request: web.Request) -> tuple[web.StreamResponse, HijackedChannel]:
    """Answer 101 to ``POST /session`` and open the HTTP/2 client side on it."""
    response, conn = await _take(request)
    channel = HijackedChannel(conn)
    await channel.open()
    return response, channel
