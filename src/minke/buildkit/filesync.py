"""The receiving end of BuildKit's file sync (``moby.filesync.v1.FileSync/DiffCopy``).

The client walks its directory (filtered by the include/exclude patterns minked sends as
gRPC metadata) and sends one ``PACKET_STAT`` per entry, parents first, then an empty STAT.
Each entry's index in that sequence is its id; minked asks for the bytes of the regular
files it lacks with ``PACKET_REQ`` (id), receives them as ``PACKET_DATA`` chunks ending with
an empty one, and closes with ``PACKET_FIN``, answered by a FIN. Modes are Go's
``os.FileMode`` (type bits high, permissions low).

The destination is kept between builds (one per client shared key and directory): a file
whose size and mtime did not change is not sent again, and what the client no longer has is
deleted, as BuildKit's local source cache does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat as statmod
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpclib.client import Channel
from grpclib.const import Cardinality

from minke.buildkit.pb import stat_pb2, wire_pb2
from minke.errors import InvalidParameter

METHOD = "/moby.filesync.v1.FileSync/DiffCopy"
P = wire_pb2.Packet

# Go's os.FileMode type bits
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHARDEV = 1 << 21
GO_STICKY = 1 << 20
GO_TYPE = GO_DIR | GO_SYMLINK | GO_DEVICE | GO_PIPE | GO_SOCKET | (1 << 19)


class SyncError(InvalidParameter):
    """The client's side of a transfer failed or sent something inconsistent."""


def unix_mode(go_mode: int) -> int:
    """A Go ``os.FileMode`` as ``st_mode``."""
    mode = go_mode & 0o777
    if go_mode & GO_SETUID:
        mode |= statmod.S_ISUID
    if go_mode & GO_SETGID:
        mode |= statmod.S_ISGID
    if go_mode & GO_STICKY:
        mode |= statmod.S_ISVTX
    if go_mode & GO_DIR:
        return mode | statmod.S_IFDIR
    if go_mode & GO_SYMLINK:
        return mode | statmod.S_IFLNK
    if go_mode & GO_DEVICE:
        return mode | (statmod.S_IFCHR if go_mode & GO_CHARDEV else statmod.S_IFBLK)
    if go_mode & GO_PIPE:
        return mode | statmod.S_IFIFO
    if go_mode & GO_SOCKET:
        return mode | statmod.S_IFSOCK
    return mode | statmod.S_IFREG


def metadata(name: str, includes: Sequence[str] = (), excludes: Sequence[str] = (),
             follow: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The request's gRPC metadata; values that are not plain ASCII are URL-encoded and
    flagged with ``<key>-encoded``, as BuildKit's ``encodeOpts``."""
    out: list[tuple[str, str]] = []
    for key, values in (("dir-name", [name]), ("include-patterns", includes),
                        ("exclude-patterns", excludes), ("followpaths", follow)):
        encoded = any(not (v.isascii() and v.isprintable()) for v in values)
        for value in values:
            out.append((key, urllib.parse.quote(value) if encoded else value))
        if encoded:
            out.append((key + "-encoded", "1"))
    return out


@dataclass
class Entry:
    path: str
    mode: int  # st_mode
    size: int
    mtime_ns: int
    uid: int
    gid: int
    linkname: str


def _entry(s: stat_pb2.Stat) -> Entry:
    path = os.path.normpath(s.path)
    if path in ("", ".") or path == ".." or path.startswith(("../", "/")):
        raise SyncError(f"file sync: the client sent a path outside its directory: {s.path!r}")
    return Entry(path, unix_mode(s.mode), s.size, s.modTime, s.uid, s.gid, s.linkname)


def _unchanged(dest: Path, entry: Entry) -> bool:
    try:
        st = os.lstat(dest / entry.path)
    except OSError:
        return False
    return (st.st_mode == entry.mode and st.st_size == entry.size
            and st.st_mtime_ns == entry.mtime_ns)


class _Writer:
    """Applies the received tree to ``dest`` (in a worker thread: plain file I/O)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest

    def prepare(self, entries: list[Entry]) -> None:
        """Remove what the client does not have (or has as another type); make dirs,
        links and special files."""
        wanted = {e.path: e for e in entries}
        for root, dirs, files in os.walk(self.dest, topdown=False):
            for name in files + dirs:
                full = Path(root) / name
                rel = str(full.relative_to(self.dest))
                entry = wanted.get(rel)
                st = os.lstat(full)
                if entry is None or statmod.S_IFMT(st.st_mode) != statmod.S_IFMT(entry.mode):
                    if statmod.S_ISDIR(st.st_mode):
                        shutil.rmtree(full)
                    else:
                        full.unlink()
        for e in entries:
            path = self.dest / e.path
            if statmod.S_ISDIR(e.mode):
                path.mkdir(exist_ok=True)
            elif statmod.S_ISLNK(e.mode):
                if path.is_symlink() and os.readlink(path) == e.linkname:
                    continue
                path.unlink(missing_ok=True)
                os.symlink(e.linkname, path)
            elif not statmod.S_ISREG(e.mode) and not path.exists():
                if statmod.S_ISFIFO(e.mode):
                    os.mkfifo(path, e.mode & 0o7777)
                # devices and sockets are not build context material: skipped

    def finish(self, entries: list[Entry]) -> None:
        """Owners, modes and times as the client has them, deepest first (so that writing
        into a directory does not move its mtime afterwards)."""
        for e in sorted(entries, key=lambda e: e.path.count("/"), reverse=True):
            path = self.dest / e.path
            if not os.path.lexists(path):
                continue
            try:
                os.lchown(path, e.uid, e.gid)
            except OSError:
                pass
            if not statmod.S_ISLNK(e.mode):
                os.chmod(path, statmod.S_IMODE(e.mode))
            os.utime(path, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)


async def receive(channel: Channel, name: str, dest: Path, *, includes: Sequence[str] = (),
                  excludes: Sequence[str] = (), follow: Sequence[str] = ()) -> int:
    """Sync the client's directory ``name`` into ``dest``; returns the bytes transferred."""
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(dest)
    transferred = 0
    async with channel.request(METHOD, Cardinality.STREAM_STREAM, P, P,
                               metadata=metadata(name, includes, excludes, follow)) as stream:
        await stream.send_request()
        entries: list[Entry] = []
        ids: dict[int, Entry] = {}
        while True:
            packet = await stream.recv_message()
            if packet is None:
                raise SyncError(f"file sync of {name!r}: the client ended the stream early")
            if packet.type == P.PACKET_ERR:
                raise SyncError(f"file sync of {name!r}: {packet.data.decode(errors='replace')}")
            if packet.type != P.PACKET_STAT:
                raise SyncError(f"file sync of {name!r}: unexpected packet {packet.type}")
            if not packet.HasField("stat"):
                break
            entry = _entry(packet.stat)
            if statmod.S_ISREG(entry.mode):
                ids[len(entries)] = entry
            entries.append(entry)
        await asyncio.to_thread(writer.prepare, entries)
        wanted = {i: e for i, e in ids.items() if not _unchanged(dest, e)}
        # Owners, modes and times are set again only where something may have changed.
        touched = [e for i, e in enumerate(entries) if i in wanted or i not in ids]
        for i in wanted:
            await stream.send_message(P(type=P.PACKET_REQ, ID=i))
        files: dict[int, Any] = {}
        try:
            pending = set(wanted)
            while pending:
                packet = await stream.recv_message()
                if packet is None:
                    raise SyncError(f"file sync of {name!r}: the client ended the stream early")
                if packet.type == P.PACKET_ERR:
                    raise SyncError(
                        f"file sync of {name!r}: {packet.data.decode(errors='replace')}"
                    )
                if packet.type != P.PACKET_DATA or packet.ID not in pending:
                    raise SyncError(f"file sync of {name!r}: unexpected packet {packet.type}")
                f = files.get(packet.ID)
                if f is None:
                    path = dest / wanted[packet.ID].path
                    path.unlink(missing_ok=True)
                    f = files[packet.ID] = open(path, "wb")  # noqa: SIM115
                if packet.data:
                    f.write(packet.data)
                    transferred += len(packet.data)
                else:
                    f.close()
                    del files[packet.ID]
                    pending.discard(packet.ID)
        finally:
            for f in files.values():
                f.close()
        # Half-close with the FIN: the client answers FIN and ends its side; a Go server
        # resets a stream whose client has not half-closed when its handler returns.
        await stream.send_message(P(type=P.PACKET_FIN), end=True)
        while await stream.recv_message() is not None:
            pass
    await asyncio.to_thread(writer.finish, touched)
    return transferred
