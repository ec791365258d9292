"""Gzip compression of layers for push, on every core, with the same bytes for the same
input (so pushing a layer twice gives one digest).

The tar is cut into blocks compressed in parallel as raw deflate, each ended with a sync
flush (the last with the final flag), and the pieces concatenated into one gzip member:
the technique of pigz. The gzip header has no name and mtime 0; the CRC-32 and length are
computed over the input in order. A block whose sample does not compress (already
compressed files, random data) is stored rather than deflated, which costs nothing in
size and saves most of the time.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

BLOCK = 4 << 20  # bytes of input per parallel piece
LEVEL = 6  # gzip's default level, as dockerd pushes
SAMPLE = 64 << 10  # bytes tried first to decide whether a block is worth deflating
STORE_RATIO = 0.97  # a sample compressing worse than this is stored
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip, deflate, no flags, mtime 0


def _deflate(block: bytes, final: bool, level: int) -> bytes:
    if level and len(block) >= SAMPLE:
        sample = zlib.compress(block[:SAMPLE], 1)
        if len(sample) > STORE_RATIO * SAMPLE:
            level = 0
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(block) + c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


class CompressedDigest:
    """What ``gzip_stream`` wrote: sha256 digest and size of the compressed bytes."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def gzip_stream(source: BinaryIO, write: Callable[[bytes], object], *,
                level: int = LEVEL, workers: int | None = None) -> CompressedDigest:
    """Compress ``source`` to ``write`` as one gzip member; returns its digest and size."""
    workers = workers or max(1, os.cpu_count() or 1)
    out = CompressedDigest()

    def emit(data: bytes) -> None:
        out.update(data)
        write(data)

    emit(_HEADER)
    crc, length = 0, 0
    pending: deque[Future[bytes]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="gzip") as pool:
        block = source.read(BLOCK)
        while True:
            following = source.read(BLOCK) if block else b""
            final = not following
            crc = zlib.crc32(block, crc)
            length += len(block)
            pending.append(pool.submit(_deflate, block, final, level))
            # Bounded read-ahead: at most two blocks per worker are held in memory.
            while len(pending) > 2 * workers or (final and pending):
                emit(pending.popleft().result())
            if final:
                break
            block = following
    emit(struct.pack("<II", crc & 0xFFFFFFFF, length & 0xFFFFFFFF))
    return out
