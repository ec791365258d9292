"""Safe extraction of one OCI layer tar into an empty directory, as overlay lower layer.

Owns the rules that keep a hostile layer inside its directory; knows nothing of images.

Every entry is placed relative to an open descriptor of its parent directory, and that
parent is found with ``openat2(RESOLVE_IN_ROOT)``: the kernel resolves the path as if the
layer directory were ``/``, so ``..`` stops at it and symlinks, absolute ones included,
resolve inside it. Parents that do not exist yet are made one component at a time, each
from a descriptor already known to be inside. The entry itself is created with calls that
never follow a final symlink (``O_CREAT|O_EXCL``, ``mkdirat``, ``symlinkat``, ``linkat``
without ``AT_SYMLINK_FOLLOW``, ``mknodat``), after removing whatever was at that name.
Hardlink targets are resolved inside the root the same way. Nothing is written through
a path string that the kernel could resolve outside.

OCI whiteouts become overlayfs ones: ``.wh.<name>`` a 0:0 character device ``<name>``,
``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` attribute on its directory.
Owners, modes (setuid included), mtimes and xattrs are kept; ``trusted.overlay.*`` xattrs
from the tar are dropped, as they would change how overlayfs reads the layer.
"""

from __future__ import annotations

import ctypes
import errno
import io
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from minke.errors import InternalError, InvalidParameter

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): skipped
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_SYMLINK_HOPS = 40  # as the kernel's MAXSYMLINKS
COPY_CHUNK = 1 << 20

_SYS_OPENAT2 = 437  # the same number on every architecture (generic syscall table)
_RESOLVE_NO_XDEV = 0x01
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE_IN_ROOT = 0x10
_IN_ROOT = _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_XDEV
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

# Failures of the host, not of the layer: reported as such rather than as a bad layer.
_HOST_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """``openat2(2)``; raises OSError. Retries EAGAIN, which the kernel returns when a
    rename raced with a RESOLVE_IN_ROOT lookup."""
    how = _OpenHow(flags, 0, resolve)
    raw = os.fsencode(path)
    for _ in range(16):
        fd = _libc.syscall(
            _SYS_OPENAT2,
            ctypes.c_int(dirfd),
            ctypes.c_char_p(raw),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err != errno.EAGAIN:
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def clean(name: str) -> list[str]:
    """The components of ``name`` read as a path from the root: ``..`` never climbs above
    it, so ``../x``, ``/../x`` and ``/x`` all name ``x``."""
    out: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return out


def _refuse(member: tarfile.TarInfo | str, why: str) -> InvalidParameter:
    name = member if isinstance(member, str) else member.name
    return InvalidParameter(f"refusing layer: entry {name!r}: {why}")


class LayerExtractor:
    """Applies the entries of one layer tar to ``root``; ``size`` sums regular files."""

    # How paths are resolved from the root; a layer never crosses into another mount.
    resolve = _IN_ROOT

    def __init__(self, root: Path, *, allow_devices: bool = True) -> None:
        self.root = root
        self.allow_devices = allow_devices
        self.size = 0
        self._rootfd = os.open(root, _DIR_FLAGS)
        # The root named as the kernel names every directory below it (``_relparts``), not
        # by realpath(): a root reached through /proc/<pid>/root lies in another mount
        # namespace, where it is "/" and realpath() of its host-side name means nothing.
        self._root_real = os.readlink(f"/proc/self/fd/{self._rootfd}")
        self._dir_times: dict[str, int] = {}

    def close(self) -> None:
        if self._rootfd >= 0:
            os.close(self._rootfd)
            self._rootfd = -1

    def apply(self, stream: BinaryIO) -> int:
        """Extract the tar read from ``stream`` (uncompressed, read sequentially)."""
        try:
            with tarfile.open(fileobj=_ForwardReader(stream), mode="r:") as tar:
                for member in tar:
                    try:
                        self._entry(tar, member)
                    except OSError as exc:
                        if exc.errno in _HOST_ERRORS:
                            raise InternalError(f"extracting {member.name!r}: {exc}") from exc
                        raise _refuse(member, exc.strerror or str(exc)) from None
        except tarfile.TarError as exc:
            raise InvalidParameter(f"invalid layer tar: {exc}") from None
        self._restore_dir_times()
        return self.size

    # -- resolution -----------------------------------------------------------------------

    def _open_dir(self, parts: list[str], hops: int = 0) -> int:
        """A descriptor of directory ``parts`` resolved inside the root, made if missing."""
        path = "/".join(parts) or "."
        try:
            return openat2(self._rootfd, path, _DIR_FLAGS, self.resolve)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise _refuse(path, f"cannot open parent directory: {exc.strerror}") from None
        if hops > MAX_SYMLINK_HOPS:
            raise _refuse(path, "too many levels of symbolic links")
        parent = self._open_dir(parts[:-1], hops)
        name = parts[-1]
        try:
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                # A dangling symlink: make its target, resolved inside the root, instead.
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise _refuse(path, "a parent is not a directory") from None
                target = os.readlink(name, dir_fd=parent)
                base = [] if target.startswith("/") else self._relparts(parent)
                return self._open_dir(clean("/".join([*base, target])), hops + 1)
            return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
        finally:
            os.close(parent)

    def _open_existing_dir(self, parts: list[str]) -> int:
        path = "/".join(parts) or "."
        try:
            return openat2(self._rootfd, path, _DIR_FLAGS, self.resolve)
        except OSError as exc:
            raise _refuse(path, f"cannot resolve: {exc.strerror}") from None

    def _relparts(self, fd: int) -> list[str]:
        """The path of the open directory ``fd`` relative to the root."""
        real = os.readlink(f"/proc/self/fd/{fd}")
        base = self._root_real.rstrip("/")  # "" for a root that is "/" in its namespace
        if real != self._root_real and not real.startswith(base + "/"):
            raise _refuse(real, "resolved outside the layer root")  # cannot happen with openat2
        return clean(real[len(base) :])

    # -- entries --------------------------------------------------------------------------

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean(member.name)
        if not parts:
            if not member.isdir():
                raise _refuse(member, "names the layer root but is not a directory")
            fd = os.open(".", _DIR_FLAGS, dir_fd=self._rootfd)
            try:
                self._set_meta_fd(fd, member)
            finally:
                os.close(fd)
            self._dir_times[""] = _mtime_ns(member)
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(member, parts)
            return
        parent = self._open_dir(parts[:-1])
        try:
            self._create(tar, member, parent, base)
        finally:
            os.close(parent)

    def _clear(self, parent: int, name: str, keep_dir: bool) -> bool:
        """Remove what is at ``name`` unless it is a directory and ``keep_dir``; True if a
        directory was kept. Never follows a symlink at ``name``."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
        return False

    def _create(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str
    ) -> None:
        exists_as_dir = self._clear(parent, name, keep_dir=member.isdir())
        if member.isreg():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o600, dir_fd=parent)
            try:
                source = tar.extractfile(member)
                if source is not None:
                    while chunk := source.read(COPY_CHUNK):
                        _write_all(fd, chunk)
                self.size += member.size
                self._set_meta_fd(fd, member)
                os.utime(fd, ns=(_mtime_ns(member), _mtime_ns(member)))
            finally:
                os.close(fd)
        elif member.isdir():
            if not exists_as_dir:
                os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
            try:
                self._set_meta_fd(fd, member)
                rel = "/".join([*self._relparts(fd)])
            finally:
                os.close(fd)
            self._dir_times[rel] = _mtime_ns(member)  # set last: children change it
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            self._utime_nofollow(parent, name, member)
        elif member.islnk():
            self._hardlink(member, parent, name)
        elif member.ischr() or member.isblk():
            if not self.allow_devices:
                return
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            dev = os.makedev(member.devmajor, member.devminor)
            os.mknod(name, kind | (member.mode & 0o777), dev, dir_fd=parent)
            self._set_meta_at(parent, name, member)
        elif member.isfifo():
            os.mkfifo(name, member.mode & 0o777, dir_fd=parent)
            self._set_meta_at(parent, name, member)
        # Other types (volume labels, GNU multi-volume parts) carry no file: skipped.

    def _hardlink(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        target = clean(member.linkname)
        if not target:
            raise _refuse(member, "hardlink to the layer root")
        tparent = self._open_existing_dir(target[:-1])
        try:
            st = os.stat(target[-1], dir_fd=tparent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise _refuse(member, "hardlink to a directory")
            # Without AT_SYMLINK_FOLLOW a symlink target is linked itself, never followed.
            os.link(target[-1], name, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise _refuse(
                member, f"hardlink target {member.linkname!r} is not in the layer"
            ) from None
        finally:
            os.close(tparent)

    def _whiteout(self, member: tarfile.TarInfo, parts: list[str]) -> None:
        base = parts[-1]
        if base == WHITEOUT_OPAQUE:
            fd = self._open_dir(parts[:-1])
            try:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
            finally:
                os.close(fd)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise _refuse(member, "whiteout of an invalid name")
        parent = self._open_dir(parts[:-1])
        try:
            self._clear(parent, hidden, keep_dir=False)
            os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
            os.chown(hidden, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            self._utime_nofollow(parent, hidden, member)
        finally:
            os.close(parent)

    # -- metadata -------------------------------------------------------------------------

    def _set_meta_fd(self, fd: int, member: tarfile.TarInfo) -> None:
        # chown before chmod: chown clears setuid and setgid bits.
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)
        for key, value in _xattrs(member):
            _setxattr(fd, key, value)

    def _set_meta_at(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        """Metadata of a node that must not be opened (device, fifo), by an O_PATH handle."""
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            proc = f"/proc/self/fd/{fd}"
            os.chown(proc, member.uid, member.gid)
            os.chmod(proc, member.mode & 0o7777)
            for key, value in _xattrs(member):
                _setxattr(proc, key, value)
        finally:
            os.close(fd)
        self._utime_nofollow(parent, name, member)

    def _utime_nofollow(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        ns = _mtime_ns(member)
        os.utime(name, ns=(ns, ns), dir_fd=parent, follow_symlinks=False)

    def _restore_dir_times(self) -> None:
        for rel, ns in self._dir_times.items():
            try:
                fd = openat2(
                    self._rootfd,
                    rel or ".",
                    _DIR_FLAGS | os.O_NOFOLLOW,
                    _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS,
                )
            except OSError:
                continue  # removed or replaced by a later entry
            try:
                os.utime(fd, ns=(ns, ns))
            finally:
                os.close(fd)


class _ForwardReader:
    """A sequential stream as tarfile's seekable mode reads it: ``tell`` counts the bytes
    read and ``seek`` only moves forward, by reading. tarfile's stream mode (``r|``) passes
    every payload byte through 10 KiB reads, a join and a slice: a third of the CPU time of
    extracting a 100 MB file. Its seekable mode reads a payload in the caller's chunks, and
    reads a tar front to back as long as nothing asks for an earlier member's data (this
    module never does: hardlinks are made with ``link``, not by re-reading the target)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return False

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a layer stream seeks forward only")
        if pos < self._pos:
            raise io.UnsupportedOperation("a layer stream cannot seek backwards")
        while self._pos < pos and self.read(min(pos - self._pos, COPY_CHUNK)):
            pass
        return self._pos


def extract_layer(stream: BinaryIO, dest: Path, *, allow_devices: bool = True) -> int:
    """Extract the uncompressed layer tar ``stream`` into the directory ``dest`` and return
    the bytes of regular files written. On InvalidParameter ``dest`` holds a partial result
    that the caller discards (it is a staging directory, never a live layer)."""
    extractor = LayerExtractor(dest, allow_devices=allow_devices)
    try:
        return extractor.apply(stream)
    finally:
        extractor.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return int(float(member.mtime) * 1_000_000_000)


def _xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    out = []
    for key, value in member.pax_headers.items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr.") :]
        if name.startswith("trusted.overlay."):
            continue
        out.append((name, value.encode("utf-8", "surrogateescape")))
    return out


def _setxattr(target: int | str, key: str, value: bytes) -> None:
    try:
        os.setxattr(target, key, value)
    except OSError as exc:
        # As dockerd: a filesystem or namespace without that xattr class is not an error.
        if exc.errno not in (errno.ENOTSUP, errno.EPERM):
            raise
