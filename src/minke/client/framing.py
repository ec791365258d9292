"""Decoding of the byte streams the Docker API returns.

Owns two formats: multiplexed stdout/stderr frames (``[stream,0,0,0,size_be_u32] + payload``,
used by logs and by non-tty attach/exec) and newline-delimited JSON messages (events, load
and import progress). Both decoders are incremental: feed them whatever the socket returned.
"""

from __future__ import annotations

import codecs
import json
import struct
from collections.abc import Iterable, Iterator

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


STDIN, STDOUT, STDERR = 0, 1, 2
HEADER = struct.Struct(">BxxxL")


def encode_frame(stream: int, payload: bytes) -> bytes:
    """One multiplexed frame; the server side of ``FrameDecoder`` (used by tests)."""
    return HEADER.pack(stream, len(payload)) + payload


class FrameDecoder:
    """Splits multiplexed bytes into ``(stream, payload)`` frames across arbitrary chunks."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buf) >= HEADER.size:
            stream, size = HEADER.unpack_from(self._buf)
            end = HEADER.size + size
            if len(self._buf) < end:
                break
            frames.append((stream, bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (non-zero at EOF means truncation)."""
        return len(self._buf)


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Frames from an iterable of raw chunks."""
    decoder = FrameDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)


class JSONLinesDecoder:
    """Splits a stream of JSON documents separated by newlines (or just concatenated)."""

    def __init__(self) -> None:
        self._buf = ""
        self._json = json.JSONDecoder()
        # A chunk may end inside a multi-byte character.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes | str) -> list[Any]:
        self._buf += self._utf8.decode(data) if isinstance(data, bytes) else data
        out: list[Any] = []
        pos = 0
        while True:
            while pos < len(self._buf) and self._buf[pos].isspace():
                pos += 1
            if pos >= len(self._buf):
                break
            try:
                obj, end = self._json.raw_decode(self._buf, pos)
            except json.JSONDecodeError:
                break  # an incomplete document: wait for more bytes
            out.append(obj)
            pos = end
        self._buf = self._buf[pos:]
        return out


def json_messages(chunks: Iterable[bytes]) -> Iterator[Any]:
    """JSON documents from an iterable of raw chunks."""
    decoder = JSONLinesDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
