"""What COPY and ADD write into a step's root filesystem (a mounted snapshot), with dockerd's
classic-builder rules: a directory source copies its contents, a file source lands at the
destination or inside it when the destination ends with ``/`` or is a directory, several
sources need a directory destination, new files and directories are owned by root unless
``--chown`` (names resolved from the image's /etc/passwd and /etc/group), ``--chmod``
overrides modes, mtimes are kept, and ADD unpacks local tar archives (gzip, bzip2, xz or
none). Every destination is resolved inside the root (symlinks in the image cannot lead out).

Sources are ``Entry`` streams, so the build context (a tar), another image's files and a
heredoc are written the same way.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from minke.engine.build.context import BuildContext
from minke.engine.containers.rootfs import resolve_in_root, resolve_user
from minke.engine.images.extract import extract_layer
from minke.errors import InvalidParameter

COPY_CHUNK = 1 << 20


@dataclass
class Entry:
    """One thing to write: ``rel`` is relative to the source's own destination ("" for
    the destination itself); ``kind`` is "dir", "file" or "symlink"."""

    rel: str
    kind: str
    mode: int
    mtime: float
    link: str = ""
    opener: Callable[[], BinaryIO] | None = None


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def resolve_owner(root: Path, chown: str) -> Owner | None:
    """``--chown=user[:group]`` read from the step's own /etc/passwd and /etc/group; a user
    without a group means the group of the same name (or number), as in dockerd."""
    if not chown:
        return None
    user, sep, group = chown.partition(":")
    resolved = resolve_user(root, f"{user}:{group if sep else user}")
    return Owner(resolved.uid, resolved.gid)


def parse_chmod(chmod: str) -> int | None:
    if not chmod:
        return None
    try:
        mode = int(chmod, 8)
    except ValueError:
        raise InvalidParameter(f"invalid chmod parameter: {chmod}") from None
    if mode > 0o7777:
        raise InvalidParameter(f"invalid chmod parameter: {chmod}")
    return mode


def context_entries(ctx: BuildContext, name: str) -> Iterator[Entry]:
    """The entries of context path ``name`` (a directory's contents, or the file)."""
    if ctx.is_dir(name) and not _is_nondir_member(ctx.member(name)):
        for rel, member in ctx.walk(name):
            if member is None:
                yield Entry(rel, "dir", 0o755, 0)
            else:
                yield _member_entry(ctx, rel, member)
        return
    member = ctx.member(name)
    assert member is not None
    yield _member_entry(ctx, "", member)


def _is_nondir_member(member: tarfile.TarInfo | None) -> bool:
    return member is not None and not member.isdir()


def _member_entry(ctx: BuildContext, rel: str, member: tarfile.TarInfo) -> Entry:
    if member.isdir():
        return Entry(rel, "dir", member.mode & 0o7777, member.mtime)
    if member.issym():
        return Entry(rel, "symlink", 0o777, member.mtime, link=member.linkname)
    if member.isreg() or member.islnk():
        return Entry(rel, "file", member.mode & 0o7777, member.mtime,
                     opener=lambda: ctx.open(member))
    raise InvalidParameter(f"{member.name}: unsupported file type in the build context")


def rootfs_entries(root: Path, path: str) -> Iterator[Entry]:
    """The entries of ``path`` inside another image's mounted root filesystem."""
    host = resolve_in_root(root, path)
    st = os.lstat(host)
    if not stat.S_ISDIR(st.st_mode):
        yield _path_entry("", host, st)
        return
    for dirpath, dirnames, filenames in os.walk(host):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames) + sorted(filenames):
            full = base / name
            rel = str(full.relative_to(host))
            yield _path_entry(rel, full, os.lstat(full))
        # os.walk does not descend into symlinked directories: they are copied as links.


def _path_entry(rel: str, path: Path, st: os.stat_result) -> Entry:
    if stat.S_ISDIR(st.st_mode):
        return Entry(rel, "dir", stat.S_IMODE(st.st_mode), st.st_mtime)
    if stat.S_ISLNK(st.st_mode):
        return Entry(rel, "symlink", 0o777, st.st_mtime, link=os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        return Entry(rel, "file", stat.S_IMODE(st.st_mode), st.st_mtime,
                     opener=lambda: open(path, "rb"))
    raise InvalidParameter(f"{path.name}: unsupported file type")


def rootfs_glob(root: Path, pattern: str) -> list[str]:
    """Paths inside ``root`` matching ``pattern`` (``*`` within one component)."""
    import fnmatch

    parts = [p for p in pattern.split("/") if p and p != "."]
    found = ["/"]
    for part in parts:
        nxt = []
        for base in found:
            host = resolve_in_root(root, base)
            if not any(c in part for c in "*?["):
                nxt.append(posixpath.join(base, part))
                continue
            try:
                names = sorted(os.listdir(host))
            except OSError:
                continue
            nxt += [posixpath.join(base, n) for n in names if fnmatch.fnmatchcase(n, part)]
        found = nxt
    return [f for f in found if os.path.lexists(resolve_in_root(root, f))]


class Writer:
    """Writes entries under ``root``; ``owner``/``chmod`` as the flags say."""

    def __init__(self, root: Path, owner: Owner | None, chmod: int | None) -> None:
        self.root = root
        self.uid = owner.uid if owner else 0
        self.gid = owner.gid if owner else 0
        self.chmod = chmod

    def is_dir(self, path: str) -> bool:
        return resolve_in_root(self.root, path).is_dir()

    def makedirs(self, path: str) -> Path:
        """Create ``path`` and missing parents (owned by the owner, 0755); return it."""
        parts = [p for p in path.split("/") if p]
        current = "/"
        for part in parts:
            current = posixpath.join(current, part)
            host = resolve_in_root(self.root, current)
            if not os.path.lexists(host):
                os.mkdir(host, 0o755)
                os.chown(host, self.uid, self.gid)
            elif not host.is_dir():
                raise InvalidParameter(f"cannot copy to {path}: {current} is not a directory")
        return resolve_in_root(self.root, path)

    def write(self, target: str, entries: Iterator[Entry]) -> None:
        """Write ``entries`` at container path ``target`` (entry "" is ``target`` itself)."""
        for entry in entries:
            path = posixpath.join(target, entry.rel) if entry.rel else target
            self.makedirs(posixpath.dirname(path))
            parent = resolve_in_root(self.root, posixpath.dirname(path))
            host = parent / posixpath.basename(path)
            mode = self.chmod if self.chmod is not None else entry.mode
            if entry.kind == "dir":
                if os.path.lexists(host) and not host.is_dir():
                    os.unlink(host)
                if not os.path.lexists(host):
                    os.mkdir(host)
                host = resolve_in_root(self.root, path)
                os.chown(host, self.uid, self.gid)
                os.chmod(host, mode)
                os.utime(host, (entry.mtime, entry.mtime))
                continue
            if host.is_dir() and not host.is_symlink():
                shutil.rmtree(host)
            elif os.path.lexists(host):
                os.unlink(host)
            if entry.kind == "symlink":
                os.symlink(entry.link, host)
                os.lchown(host, self.uid, self.gid)
                continue
            assert entry.opener is not None
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out, entry.opener() as src:
                shutil.copyfileobj(src, out, COPY_CHUNK)
                os.fchown(out.fileno(), self.uid, self.gid)
                os.fchmod(out.fileno(), mode)
            os.utime(host, (entry.mtime, entry.mtime))

    def unpack(self, target: str, stream: BinaryIO) -> None:
        """ADD of a local archive: its entries under directory ``target`` (decompressed,
        each path kept inside ``target``)."""
        from minke.engine.images._streams import decompressed

        host = self.makedirs(target)
        extract_layer(decompressed(stream), host)


def is_archive(stream: BinaryIO) -> bool:
    """Whether a file ADD would unpack: a tar, possibly gzip/bzip2/xz compressed."""
    from minke.engine.images._streams import decompressed

    try:
        with tarfile.open(fileobj=decompressed(stream), mode="r|") as tar:  # type: ignore[arg-type]
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False
