"""A large build context streams through minked without being held in memory: a 256 MB
(or ``MINKE_BUILD_CONTEXT_MB``) context goes to the builder while the daemon's peak resident
memory grows by far less."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique

from minke.client import APIClient, resolve_host

pytestmark = pytest.mark.integration

# MINKE_BUILD_CONTEXT_MB=1024 runs the 1 GB case of the issue (about 2 minutes here).
BIG = int(os.environ.get("MINKE_BUILD_CONTEXT_MB", "256")) << 20
CHUNK = 1 << 20


class Context(io.RawIOBase):
    """A tar produced on the fly: a Dockerfile and one big file of zeros."""

    def __init__(self, dockerfile: bytes) -> None:
        self._head = _header_bytes(dockerfile)
        self._left = BIG
        self._tail = b"\0" * 1024

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):  # type: ignore[no-untyped-def]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self._left:
            n = min(len(buffer), self._left, CHUNK)
            buffer[:n] = bytes(n)
            self._left -= n
            return n
        n = min(len(buffer), len(self._tail))
        buffer[:n] = self._tail[:n]
        self._tail = self._tail[n:]
        return n


def _header_bytes(dockerfile: bytes) -> bytes:
    out = io.BytesIO()
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(dockerfile)
    out.write(info.tobuf())
    out.write(dockerfile + b"\0" * (-len(dockerfile) % 512))
    big = tarfile.TarInfo("big.bin")
    big.size = BIG
    out.write(big.tobuf())
    return out.getvalue()


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_big_context_is_streamed(minke_daemon: Daemon, busybox_image: str) -> None:
    pid = minke_daemon.process.pid
    before = _peak_rss_kb(pid)
    tag = unique("big") + ":1"
    client = APIClient(resolve_host(minke_daemon.host))
    body = io.BufferedReader(Context(b"FROM busybox\nCOPY big.bin /big.bin\n"), CHUNK)
    with client.stream("POST", "/build", params={"t": tag}, data=body,
                       headers={"Content-Type": "application/x-tar"}) as stream:
        messages = list(stream.json_messages())
    client.close()
    assert not [m for m in messages if "error" in m], messages
    assert any("Successfully tagged" in (m.get("stream") or "") for m in messages)
    growth_mb = (_peak_rss_kb(pid) - before) / 1024
    assert growth_mb < 64, f"minked's peak RSS grew by {growth_mb:.0f} MB"
