"""Response streams of the Docker Engine API: chunked JSON lines, stdout/stderr framing and
tar archives streamed as they are written."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from aiohttp import web

STDIN, STDOUT, STDERR = 0, 1, 2
TAR = "application/x-tar"


def frame(stream: int, data: bytes) -> bytes:
    """One multiplexed frame: ``[stream, 0, 0, 0, size_be_u32] + payload``."""
    return struct.pack(">BxxxI", stream, len(data)) + data


class JSONLines:
    """A chunked ``application/json`` response of one JSON document per line, flushed each.

    Errors that happen after the stream started cannot change the status any more, so they
    go in-band as ``{"errorDetail": {"message": m}, "error": m}``, as dockerd sends them.
    """

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response = web.StreamResponse(headers={"Content-Type": "application/json"})
        self.response.enable_chunked_encoding()

    async def start(self) -> JSONLines:
        await self.response.prepare(self._request)
        return self

    async def send(self, doc: Any) -> None:
        await self.response.write(json.dumps(doc).encode() + b"\n")

    async def error(self, message: str) -> None:
        await self.send({"errorDetail": {"message": message}, "error": message})

    async def finish(self) -> web.StreamResponse:
        await self.response.write_eof()
        return self.response


async def send_tar(request: web.Request, chunks: AsyncIterator[bytes],
                   headers: dict[str, str] | None = None) -> web.StreamResponse:
    """A chunked ``application/x-tar`` response of ``chunks`` (plus ``headers``).

    ``aclosing``: if the client goes away (or the response cannot start), the producer is
    closed at once, which tells a tar-writing thread behind it to stop.
    """
    response = web.StreamResponse(headers={"Content-Type": TAR, **(headers or {})})
    response.enable_chunked_encoding()
    async with aclosing(chunks):  # type: ignore[type-var]
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response
