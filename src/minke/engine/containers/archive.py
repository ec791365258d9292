"""``docker cp``: the archive endpoints of a container (GET, HEAD and PUT ``archive``).

Owns reading a path of a container into a tar stream, its ``X-Docker-Container-Path-Stat``
(name, size, Go ``os.FileMode``, mtime, link target), and extracting a tar into a
directory of the container, with Docker's path rules (moby ``ResolvePath``): the path is
absolute in the container, its last element is not followed unless the path ends in ``/``
or ``/.``, and a PUT destination must be an existing directory (a symlink to one counts).

Nothing ever leaves the container's root: every lookup is ``openat2(RESOLVE_IN_ROOT)`` from
a descriptor of that root, so ``..`` stops at it and symlinks, absolute ones included,
resolve inside it, whatever a process in the container does meanwhile; the tar is written
from descriptors (no path string is re-resolved), and extraction (``untar``: the whole
archive checked before anything is written) is the image layer extractor's, whose every
write is relative to a descriptor already known to be inside. A running container is read
and written through ``/proc/<pid>/root`` (its own view, with its mounts); a stopped one
through its root filesystem mounted for the duration (``ContainerService.mounted_rootfs``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import stat
import tarfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from minke.engine.containers import untar
from minke.engine.containers.rootfs import resolve_in_root, resolve_user
from minke.engine.events import EventBus
from minke.engine.images._streams import AsyncSink, AsyncSource
from minke.engine.images.extract import clean, openat2
from minke.errors import Forbidden, InvalidParameter, NotFound

if TYPE_CHECKING:
    from minke.engine.containers.service import ContainerService

Record = dict[str, Any]
RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

# Go's os.FileMode type bits, which the docker CLI decodes from the path stat.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20


def go_file_mode(mode: int) -> int:
    """A Unix ``st_mode`` as Go's ``os.FileMode``."""
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {
        stat.S_IFDIR: GO_MODE_DIR, stat.S_IFLNK: GO_MODE_SYMLINK,
        stat.S_IFBLK: GO_MODE_DEVICE, stat.S_IFCHR: GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
        stat.S_IFIFO: GO_MODE_NAMED_PIPE, stat.S_IFSOCK: GO_MODE_SOCKET,
    }.get(kind, 0)
    if mode & stat.S_ISUID:
        out |= GO_MODE_SETUID
    if mode & stat.S_ISGID:
        out |= GO_MODE_SETGID
    if mode & stat.S_ISVTX:
        out |= GO_MODE_STICKY
    return out


def _rfc3339(ts: float) -> str:
    secs = int(ts)
    frac = int(round((ts - secs) * 1e9))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + (
        f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def encode_stat(doc: dict[str, Any]) -> str:
    """The ``X-Docker-Container-Path-Stat`` header value."""
    return base64.b64encode(json.dumps(doc).encode()).decode()


@dataclass
class Target:
    """A path of the container, opened: ``parent`` (an O_PATH directory descriptor) and
    ``name`` in it, or ``parent`` alone for a followed path (``name`` is "")."""

    parent: int
    name: str
    st: os.stat_result
    arcname: str  # Docker's ``filepath.Base(absPath)``

    def close(self) -> None:
        os.close(self.parent)


def parse_path(path: str) -> tuple[list[str], bool, str]:
    """(components, follow the last one, Docker's base name) of a path given to cp."""
    if not path:
        raise InvalidParameter("path cannot be empty")
    parts = clean(path)
    follow = path.endswith("/") or path.endswith("/.") or path in (".", "/")
    base = "." if path.endswith("/.") or path == "." else (parts[-1] if parts else "/")
    return parts, follow, base


def open_target(rootfd: int, path: str, container: str) -> Target:
    """Open ``path`` inside the root; NotFound with Docker's text if it is not there."""
    parts, follow, base = parse_path(path)
    try:
        if follow or not parts:
            fd = openat2(rootfd, "/".join(parts) or ".", os.O_PATH | os.O_CLOEXEC, IN_ROOT)
            st = os.fstat(fd)
            if parts and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise InvalidParameter(f"{path}: not a directory")
            return Target(fd, "", st, base)
        parent = openat2(rootfd, "/".join(parts[:-1]) or ".", O_PATH_DIR, IN_ROOT)
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except BaseException:
            os.close(parent)
            raise
        return Target(parent, parts[-1], st, base)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFound(f"Could not find the file {path} in container {container}") from None
        raise InvalidParameter(f"{path}: {exc.strerror}") from None


def path_stat(root: Path, target: Target, path: str) -> dict[str, Any]:
    """Docker's ``ContainerPathStat`` of an opened target."""
    st = target.st
    link = ""
    if stat.S_ISLNK(st.st_mode):
        # Fully evaluated inside the root, as an absolute path of the container.
        resolved = resolve_in_root(root, path)
        link = "/" + str(resolved.relative_to(root)).lstrip(".")
    return {"name": target.arcname, "size": st.st_size, "mode": go_file_mode(st.st_mode),
            "mtime": _rfc3339(st.st_mtime), "linkTarget": link}


class TreeTarWriter:
    """Writes the tree under an opened target into a tar, from descriptors only."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self._links: dict[tuple[int, int], str] = {}

    def add(self, parent: int, name: str, arcname: str) -> None:
        if name:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        else:
            st = os.fstat(parent)
        info = tarfile.TarInfo(arcname)
        info.mode, info.uid, info.gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        mode = st.st_mode
        if stat.S_ISREG(mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in self._links:
            info.type, info.linkname = tarfile.LNKTYPE, self._links[(st.st_dev, st.st_ino)]
            self.tar.addfile(info)
        elif stat.S_ISREG(mode):
            fd = self._open(parent, name, os.O_RDONLY)
            with os.fdopen(fd, "rb") as f:
                info.size = os.fstat(f.fileno()).st_size
                self.tar.addfile(info, f)
            if st.st_nlink > 1:
                self._links[(st.st_dev, st.st_ino)] = arcname
        elif stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
            self.tar.addfile(info)
            fd = self._open(parent, name, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for child in sorted(os.listdir(fd), key=os.fsencode):
                    self.add(fd, child, f"{arcname}/{child}")
            finally:
                os.close(fd)
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent)
            self.tar.addfile(info)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(info)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
            self.tar.addfile(info)
        # Sockets carry nothing to copy: skipped, as Docker's archive does.

    @staticmethod
    def _open(parent: int, name: str, flags: int) -> int:
        if not name:  # the followed target itself: reopen its O_PATH descriptor
            return os.open(f"/proc/self/fd/{parent}", flags | os.O_CLOEXEC)
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)


class ContainerArchive:
    """The archive endpoints over a ``ContainerService``."""

    def __init__(self, *, containers: ContainerService, events: EventBus) -> None:
        self._containers = containers
        self._events = events

    @contextlib.asynccontextmanager
    async def _root(self, ref: str) -> AsyncIterator[tuple[Record, Path]]:
        record = self._containers.get(ref)
        pid = int(record["State"].get("Pid") or 0)
        if record["State"]["Running"] and pid:
            yield record, Path(f"/proc/{pid}/root")
            return
        async with self._containers.mounted_rootfs(ref) as (record, rootfs):
            yield record, rootfs

    async def stat(self, ref: str, path: str) -> dict[str, Any]:
        """``HEAD /containers/{id}/archive``: the path's stat."""
        async with self._root(ref) as (record, root):
            return await asyncio.to_thread(self._stat_sync, root, path, ref)

    @staticmethod
    def _stat_sync(root: Path, path: str, ref: str) -> dict[str, Any]:
        rootfd = os.open(root, O_PATH_DIR)
        try:
            target = open_target(rootfd, path, ref)
            try:
                return path_stat(root, target, path)
            finally:
                target.close()
        finally:
            os.close(rootfd)

    async def get(self, ref: str, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """``GET /containers/{id}/archive``: the stat (errors raise here, before any byte
        is sent) and the tar stream of the path."""
        stack = contextlib.AsyncExitStack()
        record, root = await stack.enter_async_context(self._root(ref))
        try:
            rootfd = os.open(root, O_PATH_DIR)
            stack.callback(os.close, rootfd)
            target = await asyncio.to_thread(open_target, rootfd, path, ref)
            stack.callback(target.close)
            doc = path_stat(root, target, path)
        except BaseException:
            await stack.aclose()
            raise
        self._event(record, "archive-path")

        async def chunks() -> AsyncIterator[bytes]:
            async with stack:
                sink = AsyncSink(asyncio.get_running_loop())
                async for chunk in sink.chunks(lambda out: _write_tar(out, target)):
                    yield chunk

        return doc, chunks()

    async def put(
        self, ref: str, path: str, body: AsyncIterator[bytes], *,
        no_overwrite_dir_non_dir: bool = False, copy_uid_gid: bool = False,
    ) -> None:
        """``PUT /containers/{id}/archive``: extract the tar ``body`` into the directory
        ``path`` of the container."""
        record = self._containers.get(ref)
        if record["HostConfig"].get("ReadonlyRootfs"):
            raise Forbidden("container rootfs is marked read-only")
        async with self._root(ref) as (record, root):
            owner = None
            if copy_uid_gid and record["Config"].get("User"):
                user = resolve_user(root, record["Config"]["User"])
                owner = (user.uid, user.gid)
            source = AsyncSource(body, asyncio.get_running_loop())
            await asyncio.to_thread(
                self._put_sync, root, path, ref, source, no_overwrite_dir_non_dir, owner,
                self._containers.paths(record["Id"])["dir"])
        self._event(record, "extract-to-dir")

    @staticmethod
    def _put_sync(root: Path, path: str, ref: str, source: BinaryIO, no_overwrite: bool,
                  owner: tuple[int, int] | None, spool_dir: Path) -> None:
        extractor = untar.CopyExtractor(root, owner=owner)
        try:
            try:
                extractor.locate(path)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    raise NotFound(
                        f"Could not find the file {path} in container {ref}") from None
                raise InvalidParameter(f"{path}: {exc.strerror}") from None
            with untar.spool(source, spool_dir) as archive:
                if archive.seek(0, os.SEEK_END) == 0:
                    return  # an empty body: nothing to extract, as Docker takes it
                extractor.check(archive, no_overwrite=no_overwrite)
                extractor.apply(archive)
        finally:
            extractor.close()

    def _event(self, record: Record, action: str) -> None:
        attrs = {"image": record["Config"]["Image"], "name": record["Name"].lstrip("/"),
                 **(record["Config"].get("Labels") or {})}
        self._events.publish("container", action, record["Id"], attrs)


def _write_tar(out: BinaryIO, target: Target) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        TreeTarWriter(tar).add(target.parent, target.name, target.arcname)
