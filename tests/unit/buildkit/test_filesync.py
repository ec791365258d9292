"""The receiving end of fsutil's DiffCopy, against a sender that follows fsutil's protocol
(stats parents first with Go file modes, an empty stat, DATA for each REQ, FIN for FIN),
served by grpclib on a unix socket: what arrives, what is asked for again, what goes."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Handler
from grpclib.server import Server, Stream

from minke.buildkit import filesync
from minke.buildkit.pb import stat_pb2, wire_pb2

P = wire_pb2.Packet


def go_mode(st: os.stat_result) -> int:
    mode = st.st_mode & 0o777
    if stat.S_ISDIR(st.st_mode):
        mode |= filesync.GO_DIR
    elif stat.S_ISLNK(st.st_mode):
        mode |= filesync.GO_SYMLINK
    return mode


class Sender:
    """fsutil's sender, in Python: serves ``root``; records the ids asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requested: list[str] = []
        self.metadata: dict[str, list[str]] = {}

    def __mapping__(self) -> dict[str, Handler]:
        return {filesync.METHOD: Handler(self.diffcopy, Cardinality.STREAM_STREAM, P, P)}

    async def diffcopy(self, stream: Stream[P, P]) -> None:
        for key, value in stream.metadata.items():
            self.metadata.setdefault(key, []).append(value)
        files: dict[int, Path] = {}
        index = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = Path(dirpath) / name
                st = os.lstat(full)
                rel = str(full.relative_to(self.root))
                s = stat_pb2.Stat(path=rel, mode=go_mode(st), size=st.st_size,
                                  modTime=st.st_mtime_ns, uid=st.st_uid, gid=st.st_gid,
                                  linkname=os.readlink(full) if full.is_symlink() else "")
                if stat.S_ISREG(st.st_mode):
                    files[index] = full
                index += 1
                await stream.send_message(P(type=P.PACKET_STAT, stat=s))
        await stream.send_message(P(type=P.PACKET_STAT))
        async for packet in stream:
            if packet.type == P.PACKET_REQ:
                path = files[packet.ID]
                self.requested.append(str(path.relative_to(self.root)))
                data = path.read_bytes()
                for i in range(0, len(data), 3):  # small chunks: several DATA packets
                    await stream.send_message(P(type=P.PACKET_DATA, ID=packet.ID,
                                                data=data[i:i + 3]))
                await stream.send_message(P(type=P.PACKET_DATA, ID=packet.ID))
            elif packet.type == P.PACKET_FIN:
                await stream.send_message(P(type=P.PACKET_FIN))
                return


@asynccontextmanager
async def serving(root: Path) -> AsyncIterator[tuple[Sender, Channel]]:
    sender = Sender(root)
    server = Server([sender])
    with tempfile.TemporaryDirectory() as tmp:
        sock = str(Path(tmp) / "s.sock")
        await server.start(path=sock)
        channel = Channel(path=sock)
        try:
            yield sender, channel
        finally:
            channel.close()
            server.close()
            await server.wait_closed()


def test_go_modes_become_unix_modes() -> None:
    assert filesync.unix_mode(filesync.GO_DIR | 0o755) == stat.S_IFDIR | 0o755
    assert filesync.unix_mode(filesync.GO_SYMLINK | 0o777) == stat.S_IFLNK | 0o777
    assert filesync.unix_mode(0o644) == stat.S_IFREG | 0o644
    assert filesync.unix_mode(filesync.GO_SETUID | 0o755) == stat.S_IFREG | 0o4755


def test_metadata_encodes_what_headers_cannot_carry() -> None:
    md = filesync.metadata("context", excludes=["node_modules", "ünï"])
    assert ("dir-name", "context") in md
    assert ("exclude-patterns", "node_modules") in md
    assert ("exclude-patterns", "%C3%BCn%C3%AF") in md
    assert ("exclude-patterns-encoded", "1") in md
    assert not any(k == "include-patterns" for k, _ in md)


async def test_sync_copies_tree_then_sends_only_changes(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("bravo!")
    (src / "gone.txt").write_text("x")
    os.chmod(src / "sub" / "b.txt", 0o600)
    os.symlink("a.txt", src / "link")
    async with serving(src) as (sender, channel):
        size = await filesync.receive(channel, "context", dest, excludes=["*.tmp"])
        assert sorted(sender.requested) == ["a.txt", "gone.txt", "sub/b.txt"]
        assert size == len("alpha") + len("bravo!") + 1
        assert sender.metadata["dir-name"] == ["context"]
        assert sender.metadata["exclude-patterns"] == ["*.tmp"]
        assert (dest / "sub" / "b.txt").read_text() == "bravo!"
        assert stat.S_IMODE(os.stat(dest / "sub" / "b.txt").st_mode) == 0o600
        assert os.readlink(dest / "link") == "a.txt"
        assert os.stat(dest / "a.txt").st_mtime_ns == os.stat(src / "a.txt").st_mtime_ns

        (src / "gone.txt").unlink()
        (src / "a.txt").write_text("alpha, changed")
        sender.requested.clear()
        await filesync.receive(channel, "context", dest)
        assert sender.requested == ["a.txt"]
        assert (dest / "a.txt").read_text() == "alpha, changed"
        assert not (dest / "gone.txt").exists()
        assert (dest / "sub" / "b.txt").read_text() == "bravo!"


async def test_sender_error_is_reported(tmp_path: Path) -> None:
    class Failing(Sender):
        async def diffcopy(self, stream: Stream[P, P]) -> None:
            await stream.send_message(P(type=P.PACKET_ERR, data=b"permission denied: x"))

    server = Server([Failing(tmp_path)])
    sock = str(tmp_path / "s.sock")
    await server.start(path=sock)
    channel = Channel(path=sock)
    try:
        with pytest.raises(filesync.SyncError, match="permission denied: x"):
            await filesync.receive(channel, "context", tmp_path / "dest")
    finally:
        channel.close()
        server.close()
        await server.wait_closed()


async def test_paths_outside_the_directory_are_refused(tmp_path: Path) -> None:
    class Escaping(Sender):
        async def diffcopy(self, stream: Stream[P, P]) -> None:
            await stream.send_message(P(type=P.PACKET_STAT, stat=stat_pb2.Stat(
                path="../../etc/x", mode=0o644)))
            await stream.send_message(P(type=P.PACKET_STAT))

    server = Server([Escaping(tmp_path)])
    sock = str(tmp_path / "s.sock")
    await server.start(path=sock)
    channel = Channel(path=sock)
    try:
        with pytest.raises(filesync.SyncError, match="outside its directory"):
            await filesync.receive(channel, "context", tmp_path / "dest")
    finally:
        channel.close()
        server.close()
        await server.wait_closed()
