"""Hijacked connections for attach and exec start: HTTP 101, then raw bytes both ways.

aiohttp knows ``Upgrade: tcp`` and defers the upgrade until the request body is read; after
the 101 answer this module takes the transport over from aiohttp's protocol, because that
protocol closes the connection on the client's half-close (``shutdown(SHUT_WR)`` when the
docker CLI's stdin ends), while Docker keeps sending output until the process ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class _TailFeeder:
    """Receives, through aiohttp's ``set_parser``, bytes that arrived after the request."""

    def __init__(self, sink: HijackedConnection) -> None:
        self._sink = sink

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._sink._received(data)
        return False, b""

    def feed_eof(self) -> None:
        self._sink._eof()


class HijackedConnection(asyncio.Protocol):
    """The client connection after the upgrade. ``read`` returns b"" once the client has
    half-closed; ``write`` applies the transport's flow control."""

    def __init__(self, transport: asyncio.Transport, previous: Any) -> None:
        self._transport = transport
        self._previous = previous
        self._buffer: asyncio.Queue[bytes] = asyncio.Queue()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.closed = asyncio.Event()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        self._received(data)

    def eof_received(self) -> bool:
        self._eof()
        return True  # keep our write side open: output still flows after stdin ends

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof()
        self._can_write.set()
        self.closed.set()
        # Let aiohttp forget the connection too, or its server would keep it in its books.
        self._previous.connection_lost(exc)

    def _received(self, data: bytes) -> None:
        if data:
            self._buffer.put_nowait(data)

    def _eof(self) -> None:
        self._buffer.put_nowait(b"")

    # used by the API

    async def read(self) -> bytes:
        return await self._buffer.get()

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("client went away")
        self._transport.write(data)
        await self._can_write.wait()

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


async def hijack(
    request: web.Request, content_type: str, *, upgrade_to: str = "tcp"
) -> tuple[web.StreamResponse, HijackedConnection]:
    """Answer 101 (or 200 for a client that did not ask to upgrade) and take the connection.
    ``upgrade_to`` is the protocol the client asks for (``h2c`` for BuildKit's endpoints).

    The handler must return the response object after it has closed the connection."""
    upgrade = request.headers.get("Upgrade", "").lower() == upgrade_to
    if upgrade:
        headers = {"Connection": "Upgrade", "Upgrade": upgrade_to}
        if content_type:
            headers["Content-Type"] = content_type
        response = web.StreamResponse(status=101, reason="UPGRADED", headers=headers)
    else:
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    response.force_close()
    await response.prepare(request)
    transport = request.transport
    protocol = request.protocol
    assert transport is not None
    conn = HijackedConnection(transport, protocol)  # type: ignore[arg-type]
    if upgrade:
        protocol.set_parser(_TailFeeder(conn))  # flushes what the client sent already
        transport.set_protocol(conn)
    else:
        # Without an upgrade aiohttp frames the body itself (chunked); write through it.
        conn = _ChunkedConnection(response, conn)
    return response, conn


class _ChunkedConnection(HijackedConnection):
    """Output for a client that did not upgrade: written as the chunked response body."""

    def __init__(self, response: web.StreamResponse, inner: HijackedConnection) -> None:
        self.__dict__.update(inner.__dict__)
        self._response = response
        self._eof()  # such a client cannot send stdin

    async def write(self, data: bytes) -> None:
        await self._response.write(data)

    def close(self) -> None:
        self.closed.set()
