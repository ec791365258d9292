"""``PUT /containers/{id}/archive``: a tar extracted into a directory of a container, all or
nothing.

Docker's rules (moby ``pkg/archive`` ``Unpack``): member names are taken relative to the
destination directory, absolute ones included; a name that climbs out of it (``../x``), a
symlink whose target, joined to the symlink's directory, lies outside it, and a hardlink to
a path outside it are refused; a ``.`` member leaves the destination as it is; with
``noOverwriteDirNonDir`` a directory and a non-directory never replace one another.

Unlike Docker, which stops at the first bad member with what came before it applied, the
whole archive is checked first (``check``): its names, its links, and the members that would
fail against what the container holds (a parent that is a file, a hardlink to nothing, an
overwrite refused). Only then is anything written (``CopyExtractor``), so a refused archive
changes nothing. The archive is read twice, hence ``spool``.

Extraction is the image layer extractor's, rooted at the container's root (so that symlinks,
absolute ones included, resolve as the container sees them, and never outside it) and
crossing the container's own mounts (its volumes) as Docker's copy does.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from minke.engine.images.extract import WHITEOUT_PREFIX, LayerExtractor, clean, openat2
from minke.errors import InvalidParameter

RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
SPOOL_IN_MEMORY = 16 << 20  # bytes of an archive kept in memory; a larger one goes to disk
COPY_CHUNK = 1 << 20

Kind = Literal["dir", "file", "symlink"]


def spool(source: BinaryIO, directory: Path) -> BinaryIO:
    """The whole request body in a file that can be read again (memory, then ``directory``),
    positioned at its start."""
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=directory)
    try:
        shutil.copyfileobj(source, spooled, COPY_CHUNK)
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    return spooled  # type: ignore[return-value]


@dataclass(frozen=True)
class Destination:
    """The directory extracted into: its components below the container's root, resolved
    (symlinks followed), and the container path Docker names in its errors."""

    parts: list[str]

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)

    def inside(self, path: str) -> bool:
        base = self.path.rstrip("/")
        return path == self.path or path.startswith(base + "/")


def _clean(path: str) -> str:
    """An absolute path cleaned as Go's ``filepath.Clean`` (posixpath keeps a leading "//")."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")


def _refused(why: str) -> InvalidParameter:
    return InvalidParameter(f"refusing archive, nothing was extracted: {why}")


def member_path(name: str, dest: Destination) -> str:
    """A member's name cleaned as Go's ``filepath.Clean`` and taken relative to the
    destination ("." for the destination itself); refused if it climbs out of it."""
    if name.startswith("/"):
        return _clean(name).lstrip("/") or "."
    rel = posixpath.normpath(name)
    if rel == ".." or rel.startswith("../"):
        raise _refused(f'"{rel}" is outside of "{dest.path}"')
    return rel


def hardlink_path(linkname: str, dest: Destination) -> str:
    """A hardlink's target relative to the destination (Docker joins it to the destination,
    an absolute one included); refused if it lies outside it or is the destination."""
    target = _clean(dest.path + "/" + linkname)
    if not dest.inside(target) or target == dest.path:
        raise _refused(f'invalid hardlink "{target}" -> "{linkname}"')
    return target[len(dest.path.rstrip("/")) + 1 :]


def _check_links(member: tarfile.TarInfo, rel: str, dest: Destination) -> None:
    where = posixpath.join(dest.path, rel)
    if member.issym():
        # Go's filepath.Join: an absolute target is joined like a relative one, so only a
        # relative target can climb out (an absolute one resolves inside the container).
        target = _clean(posixpath.dirname(where) + "/" + member.linkname)
        if not dest.inside(target):
            raise _refused(f'invalid symlink "{where}" -> "{member.linkname}"')
    elif member.islnk():
        hardlink_path(member.linkname, dest)


def _kind(member: tarfile.TarInfo) -> Kind:
    if member.isdir():
        return "dir"
    return "symlink" if member.issym() else "file"


class _Checker:
    """One pass over the archive's headers, against the container's tree as it is now and
    the members seen so far (which the extraction will have made by then)."""

    def __init__(self, rootfd: int, dest: Destination, no_overwrite: bool) -> None:
        self.rootfd = rootfd
        self.dest = dest
        self.no_overwrite = no_overwrite
        self.seen: dict[tuple[str, ...], Kind] = {}

    def member(self, member: tarfile.TarInfo) -> None:
        rel = member_path(member.name, self.dest)
        _check_links(member, rel, self.dest)
        if rel == ".":
            return
        parts = tuple(rel.split("/"))
        through_symlink = self._check_parents(member, parts)
        if member.islnk():
            self._check_hardlink_target(member, through_symlink)
        if self.no_overwrite and not through_symlink:
            self._check_overwrite(member, parts)
        self.seen[parts] = _kind(member)

    def _disk_kind(self, parts: tuple[str, ...]) -> Kind | None:
        """What is at ``parts`` (below the destination) in the container now, not following
        a final symlink; None if nothing is (or a parent is missing)."""
        *parent, name = [*self.dest.parts, *parts]
        try:
            fd = openat2(self.rootfd, "/".join(parent) or ".", os.O_PATH | os.O_CLOEXEC,
                         IN_ROOT)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise _refused(f'cannot resolve "{"/".join(parent)}": {exc.strerror}') from None
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        finally:
            os.close(fd)
        if stat.S_ISDIR(mode):
            return "dir"
        return "symlink" if stat.S_ISLNK(mode) else "file"

    def _check_parents(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> bool:
        """Refuse a member whose parent is, or will be, a non-directory; True when a parent
        is a symlink, which only the extraction resolves (inside the container's root)."""
        for i in range(1, len(parts)):
            prefix = parts[:i]
            kind = self.seen.get(prefix) or self._disk_kind(prefix)
            if kind is None:
                return False  # made by the extraction, and all below it
            if kind == "symlink":
                return True
            if kind == "file":
                raise _refused(
                    f'"{member.name}": "{posixpath.join(self.dest.path, *prefix)}" is not a '
                    "directory")
        return False

    def _check_hardlink_target(self, member: tarfile.TarInfo, through_symlink: bool) -> None:
        parts = tuple(hardlink_path(member.linkname, self.dest).split("/"))
        if any(self.seen.get(parts[:i]) == "symlink" for i in range(1, len(parts))):
            return  # reached through a symlink of the archive: only the extraction can tell
        kind = self.seen.get(parts) or self._disk_kind(parts)
        if kind == "dir":
            raise _refused(f'"{member.name}": hardlink to a directory "{member.linkname}"')
        if kind is None and not through_symlink:
            raise _refused(f'"{member.name}": hardlink target "{member.linkname}" not found')

    def _check_overwrite(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        existing = self.seen.get(parts) or self._disk_kind(parts)
        if existing is None:
            return
        where = posixpath.join(self.dest.path, *parts)
        if existing == "dir" and not member.isdir():
            raise _refused(
                f'cannot overwrite directory "{where}" with non-directory "{member.name}"')
        if existing != "dir" and member.isdir():
            raise _refused(
                f'cannot overwrite non-directory "{where}" with directory "{member.name}"')


def check(archive: BinaryIO, rootfd: int, dest: Destination, *, no_overwrite: bool) -> None:
    """Refuse the archive (InvalidParameter) if any member would be refused or fail; reads
    headers only (payloads are skipped) and writes nothing. ``archive`` is left at its start."""
    size = archive.seek(0, os.SEEK_END)
    archive.seek(0)
    checker = _Checker(rootfd, dest, no_overwrite)
    end = 0
    try:
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            for member in tar:
                checker.member(member)
                if member.isreg():
                    end = max(end, member.offset_data + member.size)
    except tarfile.TarError as exc:
        raise _refused(f"invalid tar: {exc}") from None
    finally:
        archive.seek(0)
    # tarfile takes a header missing at the end for the end of the archive; the payload of
    # the last member cut short would only show while extracting it.
    if end > size:
        raise _refused("invalid tar: unexpected end of data")


class CopyExtractor(LayerExtractor):
    """The layer extractor without layer semantics, rooted at the container's root with
    member names placed under the destination: ``.wh.`` names are plain files, the
    container's mounts are crossed, and Docker's ``copyUIDGID`` owner applies."""

    resolve = IN_ROOT  # no RESOLVE_NO_XDEV: a volume inside the container is written to

    def __init__(self, root: Path, *, owner: tuple[int, int] | None) -> None:
        super().__init__(root, allow_devices=True)
        self.dest = Destination([])
        self.owner = owner

    def locate(self, path: str) -> Destination:
        """Take the container path ``path`` (its last element followed, as Docker resolves
        it) as the destination. Raises OSError as openat2 does, InvalidParameter if it is
        not a directory."""
        fd = openat2(self._rootfd, "/".join(clean(path)) or ".", os.O_PATH | os.O_CLOEXEC,
                     IN_ROOT)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise InvalidParameter(f"extraction point is not a directory: {path}")
            self.dest = Destination(self._relparts(fd))
        finally:
            os.close(fd)
        return self.dest

    def check(self, archive: BinaryIO, *, no_overwrite: bool) -> None:
        """``check`` the archive against the destination ``locate`` took."""
        check(archive, self._rootfd, self.dest, no_overwrite=no_overwrite)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = member_path(member.name, self.dest)  # checked already: never refused here
        if rel == ".":
            return  # Docker leaves an existing destination's own metadata alone
        if self.owner is not None:
            member.uid, member.gid = self.owner
        parts = [*self.dest.parts, *rel.split("/")]
        member.name = "/".join(parts)
        if member.islnk():
            member.linkname = "/".join(
                [*self.dest.parts, hardlink_path(member.linkname, self.dest)])
        if parts[-1].startswith(WHITEOUT_PREFIX):
            parent = self._open_dir(parts[:-1])
            try:
                self._create(tar, member, parent, parts[-1])
            finally:
                os.close(parent)
            return
        super()._entry(tar, member)
