"""Byte-stream plumbing for the image service: decompression by magic number, hashing
readers, and the bridges between asyncio iterators and the blocking threads that do the work.

Request bodies arrive as an ``AsyncIterator[bytes]`` on the event loop while tar parsing,
hashing and extraction run in a worker thread; ``AsyncSource`` lets that thread read the
body as a file, and ``AsyncSink`` lets a thread writing a tar feed an async response.
Neither holds more than a few chunks in memory.
"""

from __future__ import annotations

import asyncio
import bz2
import gzip
import hashlib
import io
import lzma
from collections.abc import AsyncIterator, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, BinaryIO

from minke.errors import NotSupported

SINK_QUEUE = 8  # chunks buffered between a tar-writing thread and the response
SINK_CHUNK = 1 << 16  # bytes per chunk handed to the response
_POLL = 0.5  # s; how often a blocked worker thread checks whether it was cancelled

_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_ZSTD = b"\x28\xb5\x2f\xfd"


def decompressed(raw: BinaryIO) -> BinaryIO:
    """``raw`` decompressed according to its first bytes (gzip, bzip2, xz, zstd or none)."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buffered.peek(6)[:6]
    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if head.startswith(_BZIP2):
        return bz2.BZ2File(buffered, mode="rb")  # type: ignore[return-value]
    if head.startswith(_XZ):
        return lzma.LZMAFile(buffered, mode="rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD):
        try:
            import zstandard  # imported here: only zstd layers need it
        except ImportError:
            raise NotSupported("zstd-compressed layers need the zstandard package") from None
        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)  # type: ignore[return-value]
    return buffered


def is_empty(raw: io.BufferedReader) -> bool:
    return not raw.peek(1)


class HashingReader(io.RawIOBase):
    """Reads through ``source`` while hashing (sha256) and counting; optionally copies every
    byte read to ``tee`` (a content-store writer)."""

    def __init__(self, source: BinaryIO, tee: Any | None = None) -> None:
        self._source = source
        self._tee = tee
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._hash.update(data)
        self.size += n
        if self._tee is not None and n:
            self._tee.write(data)
        return n

    def drain(self) -> None:
        """Read to the end: a tar reader stops at the end-of-archive blocks, but the digest
        covers every byte, padding included."""
        while self.read(1 << 20):
            pass


class AsyncSource(io.RawIOBase):
    """A blocking file over an async iterator of chunks owned by ``loop``; for worker threads
    only (it would deadlock on the loop's own thread)."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes | None:
        async def step() -> bytes | None:
            try:
                return await anext(self._chunks)
            except StopAsyncIteration:
                return None

        return asyncio.run_coroutine_threadsafe(step(), self._loop).result()

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._eof:
            chunk = self._next()
            if chunk is None:
                self._eof = True
            else:
                self._pending = bytes(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class SinkClosed(Exception):
    """The consumer of an ``AsyncSink`` went away (the client disconnected)."""


class AsyncSink(io.RawIOBase):
    """A blocking, write-only file whose bytes come out of ``chunks()`` on the event loop.

    ``run(work)`` starts ``work(self)`` in a thread; iterating ``chunks()`` yields what it
    writes, then re-raises its exception if it failed. Closing the iterator early makes the
    thread's next write raise ``SinkClosed``, so it stops instead of blocking forever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(SINK_QUEUE)
        self._buffer = bytearray()
        self._cancelled = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) >= SINK_CHUNK:
            self._put(bytes(self._buffer[:SINK_CHUNK]))
            del self._buffer[:SINK_CHUNK]
        return len(data)

    def _put(self, item: bytes | None) -> None:
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            if self._cancelled:
                future.cancel()
                raise SinkClosed()
            try:
                future.result(_POLL)
                return
            except FutureTimeout:
                continue

    async def chunks(self, work: Callable[[AsyncSink], None]) -> AsyncIterator[bytes]:
        def run() -> None:
            try:
                work(self)
                if self._buffer:
                    self._put(bytes(self._buffer))
            finally:
                # The end marker goes out on failure too, so the consumer wakes up and
                # collects the exception from the task.
                if not self._cancelled:
                    self._put(None)

        task = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            while (item := await self._queue.get()) is not None:
                yield item
            await task  # re-raises the worker's exception
        finally:
            self._cancelled = True
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved (and raised above if it mattered)
