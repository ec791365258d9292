"""``NamespacePool``: a container's namespace from the spare is as fresh as a new one (only
``lo``, up), spares never outlive the pool, and stale ones of an earlier daemon go."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import struct
from pathlib import Path

import pytest

from minke.engine.network import netns
from minke.engine.network.nspool import SPARE_PREFIX, NamespacePool

pytestmark = pytest.mark.integration


def _interfaces(path: Path) -> list[tuple[str, bool]]:
    """The interfaces of the namespace at ``path``, and whether each is up (ioctl: sysfs
    shows the daemon's own namespace)."""
    def names() -> list[tuple[str, bool]]:
        out = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _, name in socket.if_nameindex():
                request = struct.pack("16sH14x", name.encode(), 0)
                flags = struct.unpack("16sH14x", fcntl.ioctl(s, netns.SIOCGIFFLAGS, request))[1]
                out.append((name, bool(flags & netns.IFF_UP)))
        return sorted(out)

    return netns.run_in(path, names)


def _spares(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{SPARE_PREFIX}*"))


@pytest.fixture
def directory(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    yield tmp_path / "netns"
    for path in (tmp_path / "netns").glob("*"):
        netns.remove(path)


def test_take_gives_a_fresh_namespace_from_the_spare(directory: Path) -> None:
    asyncio.run(_take_gives_a_fresh_namespace(directory))


async def _take_gives_a_fresh_namespace(directory: Path) -> None:
    pool = NamespacePool(directory)
    await pool.reset()  # makes a spare in the background
    await pool._making  # type: ignore[misc]
    spare = _spares(directory)
    assert len(spare) == 1
    await pool.take(directory / "c1")
    assert _spares(directory) == []  # the spare became c1's
    assert netns.exists(directory / "c1") and not netns.exists(spare[0])
    assert _interfaces(directory / "c1") == [("lo", True)]
    await pool.take(directory / "c2")  # no spare: made at once
    assert _interfaces(directory / "c2") == [("lo", True)]
    own = os.stat("/proc/thread-self/ns/net").st_ino
    inodes = {os.stat(directory / c).st_ino for c in ("c1", "c2")}
    assert len(inodes) == 2 and own not in inodes
    pool.refill()
    await pool.close()
    assert _spares(directory) == []


def test_reset_removes_spares_of_an_earlier_daemon(directory: Path) -> None:
    asyncio.run(_reset_removes_stale_spares(directory))


async def _reset_removes_stale_spares(directory: Path) -> None:
    earlier = NamespacePool(directory)
    earlier.refill()
    await earlier._making  # type: ignore[misc]
    stale = _spares(directory)
    assert len(stale) == 1  # that daemon died without close
    pool = NamespacePool(directory)
    await pool.reset()
    assert not stale[0].exists()
    await pool.close()
    assert _spares(directory) == []
