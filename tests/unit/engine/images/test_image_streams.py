"""The byte plumbing of pulls and loads: the gzip reader (members, padding, damage), the
bounded pipe from the event loop to a reading thread (order, back-pressure, errors,
cancellation), and hashing through a content-store writer.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import random
import threading
from pathlib import Path

import pytest

from minke.engine.content import LocalContentStore
from minke.engine.images._streams import ChunkPipe, HashingReader, PipeClosed, decompressed


def _decompress(blob: bytes, step: int) -> bytes:
    reader = decompressed(io.BytesIO(blob))  # type: ignore[arg-type]
    out = bytearray()
    while chunk := reader.read(step):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("step", [1, 4095, 1 << 16, 3 << 20])
def test_gzip_members_and_zero_padding_read_as_gzip_does(step: int) -> None:
    rng = random.Random(step)
    first = rng.randbytes(300_000) + b"a" * (2 << 20)  # stored and deflated blocks
    second = b"second member"
    members = gzip.compress(first) + gzip.compress(second) + gzip.compress(b"")
    assert _decompress(members, step) == gzip.decompress(members) == first + second
    assert _decompress(members + b"\0" * 700, step) == first + second


def test_gzip_damage_raises_what_gzipfile_raises() -> None:
    blob = gzip.compress(random.Random(1).randbytes(100_000))
    with pytest.raises(EOFError):
        _decompress(blob[:-9], 1 << 16)  # cut inside the trailer
    with pytest.raises(gzip.BadGzipFile):
        _decompress(blob[:-8] + b"\0\0\0\0" + blob[-4:], 1 << 16)  # wrong CRC
    with pytest.raises(gzip.BadGzipFile):
        _decompress(blob + b"not gzip", 1 << 16)  # garbage after the member
    with pytest.raises(gzip.BadGzipFile):
        _decompress(blob[:5000] + bytes(range(256)) * 4 + blob[6024:], 1 << 16)


def test_hashing_through_a_writer_hashes_once_and_matches(tmp_path: Path) -> None:
    data = random.Random(2).randbytes(3 << 20)
    store = LocalContentStore(tmp_path)
    writer = store.writer()
    reader = HashingReader(io.BytesIO(data), tee=writer)  # type: ignore[arg-type]
    while reader.read(100_000):
        pass
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert reader.digest == expected and reader.size == len(data)
    writer.sync()
    assert writer.commit(expected).digest == expected
    assert store.read(expected) == data


def _read_all(pipe: ChunkPipe, step: int) -> bytes:
    out = bytearray()
    while chunk := pipe.read(step):
        out += chunk
    return bytes(out)


def test_pipe_delivers_in_order_and_holds_the_writer_back() -> None:
    chunks = [bytes([i]) * 1000 for i in range(200)]

    async def run() -> tuple[bytes, int]:
        pipe = ChunkPipe(asyncio.get_running_loop(), limit=10_000)
        released = threading.Event()
        first_wait: int | None = None

        def reader() -> bytes:
            released.wait()
            return _read_all(pipe, 777)

        work = asyncio.ensure_future(asyncio.to_thread(reader))
        for i, chunk in enumerate(chunks):
            put = asyncio.ensure_future(pipe.put(chunk))
            await asyncio.sleep(0)
            if not put.done() and first_wait is None:
                # The pipe is full: the writer waits until the reader frees half of it.
                first_wait = i
                released.set()
            await put
        pipe.finish()
        return await work, first_wait

    data, first_wait = asyncio.run(run())
    assert data == b"".join(chunks)
    assert first_wait == 10  # ten 1000-byte chunks fit under the limit, the eleventh waits


def test_pipe_failure_comes_after_the_queued_bytes() -> None:
    async def run() -> tuple[bytes, BaseException]:
        pipe = ChunkPipe(asyncio.get_running_loop())
        await pipe.put(b"abc")
        await pipe.put(b"def")
        pipe.fail(ValueError("digest mismatch"))
        got = bytearray()

        def reader() -> BaseException:
            try:
                while chunk := pipe.read(2):
                    got.extend(chunk)
            except ValueError as exc:
                return exc
            raise AssertionError("no error")

        exc = await asyncio.to_thread(reader)
        return bytes(got), exc

    got, exc = asyncio.run(run())
    assert got == b"abcdef" and str(exc) == "digest mismatch"


def test_pipe_cancel_stops_both_sides() -> None:
    async def run() -> None:
        pipe = ChunkPipe(asyncio.get_running_loop(), limit=4)
        await pipe.put(b"12345")  # over the limit: the next put waits
        waiting = asyncio.ensure_future(pipe.put(b"more"))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await asyncio.to_thread(pipe.cancel)  # as the reading thread would
        with pytest.raises(PipeClosed):
            await waiting
        with pytest.raises(PipeClosed):
            await asyncio.to_thread(pipe.read, 10)

    asyncio.run(run())
