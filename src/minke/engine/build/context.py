"""The build context: the tar a client sends (possibly gzip/bzip2/xz compressed), spooled to
one file on disk while it streams in and indexed by path; never held in memory and never
unpacked as a whole. COPY and ADD read the members they use straight from that file.

Owns the rules of the context as dockerd's classic builder applies them: paths cleaned and
kept inside the context (``../x`` is "forbidden path outside the build context"), directories
implied by their files, ``.dockerignore`` applied (the Dockerfile is read first, then it and
``.dockerignore`` are dropped too if excluded, so that COPY cannot see them), glob sources
(Go's ``filepath.Match``: ``*`` within one component), and the content checksums the cache
keys of COPY and ADD are made of.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import shutil
import stat
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from minke.engine.build.dockerignore import Matcher, read_patterns
from minke.engine.images._streams import decompressed
from minke.errors import InvalidParameter, NotFound

SPOOL_CHUNK = 1 << 20  # bytes copied per read while spooling the context
DOCKERIGNORE = ".dockerignore"


class CopyFailed(NotFound):
    """A COPY/ADD source that is missing or excluded (Docker's text, ``COPY failed: ...``)."""


def clean(path: str) -> str:
    """``path`` as a context-relative name: ``""`` for the root, no leading slash."""
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    return "" if cleaned == "." else cleaned


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` as a regex: ``*``/``?`` never cross ``/``."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise InvalidParameter(f"syntax error in pattern: {pattern}")
            body = pattern[i:end]
            out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
            i = end + 1
        elif ch == "\\" and i < len(pattern):
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.S)


def has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


class BuildContext:
    """A spooled context tar and its index. Use from one worker thread at a time; ``close``
    deletes the spool file."""

    def __init__(self, spool: Path | None, root: Path | None = None) -> None:
        self.spool = spool
        self.root = root  # a directory context (BuildKit's file sync) instead of a tar
        self._tar = tarfile.open(spool, "r:") if spool is not None else None
        self.entries: dict[str, tarfile.TarInfo] = {}  # clean path → member (last one wins)
        self.dirs: set[str] = {""}
        members = self._tar if self._tar is not None else _directory_members(root)
        for member in members:
            name = clean(member.name)
            if not name:
                continue
            self.entries[name] = member
            parent = posixpath.dirname(name)
            while parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)
            if member.isdir():
                self.dirs.add(name)
        self._sums: dict[str, str] = {}
        self.excluded: Matcher | None = None

    @classmethod
    def receive(cls, source: BinaryIO, workdir: Path) -> BuildContext:
        """Spool ``source`` (read to its end) under ``workdir`` and index it."""
        workdir.mkdir(parents=True, exist_ok=True)
        spool = workdir / "context.tar"
        with open(spool, "wb") as out:
            shutil.copyfileobj(decompressed(source), out, SPOOL_CHUNK)
            if out.tell() == 0:
                out.write(b"\0" * 1024)  # an empty body: an empty context
        try:
            return cls(spool)
        except tarfile.TarError as exc:
            raise InvalidParameter(f"the build context is not a valid tar archive: {exc}") from None

    @classmethod
    def from_directory(cls, root: Path) -> BuildContext:
        """A context read straight from ``root`` (which must not change while in use)."""
        return cls(None, root)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
        if self.spool is not None:
            self.spool.unlink(missing_ok=True)

    # -- reading --------------------------------------------------------------------------

    def read(self, name: str) -> bytes | None:
        """A regular file's bytes (the Dockerfile, .dockerignore), or None."""
        member = self.entries.get(clean(name))
        if member is None or not (member.isreg() or member.islnk()):
            return None
        with self.open(member) as f:
            return f.read()

    def open(self, member: tarfile.TarInfo) -> BinaryIO:
        if self._tar is None:
            assert self.root is not None
            if not member.isreg():
                raise InvalidParameter(f"{member.name}: not a regular file")
            return open(self.root / member.name, "rb")  # noqa: SIM115
        f = self._tar.extractfile(member)
        if f is None:
            raise InvalidParameter(f"{member.name}: not a regular file")
        return f  # type: ignore[return-value]

    def apply_dockerignore(self, dockerfile: str) -> None:
        """Drop what ``.dockerignore`` excludes; call after the Dockerfile was read."""
        text = self.read(DOCKERIGNORE)
        if text is None:
            return
        try:
            matcher = Matcher(read_patterns(text.decode("utf-8", errors="replace")))
        except ValueError as exc:
            raise InvalidParameter(f"error reading .dockerignore: {exc}") from None
        self.excluded = matcher
        for name in [n for n in self.entries if matcher.excluded(n)]:
            del self.entries[name]
        self.dirs = {d for d in self.dirs if not d or not matcher.excluded(d)
                     or any(n.startswith(d + "/") for n in self.entries)}

    # -- sources of COPY/ADD --------------------------------------------------------------

    def sources(self, src: str, instruction: str = "COPY") -> list[str]:
        """The context paths ``src`` names (a path or a glob), or raise Docker's error."""
        normalized = posixpath.normpath(src)
        if normalized == ".." or normalized.startswith("../"):
            raise InvalidParameter(
                f"{instruction} failed: forbidden path outside the build context: {src} ()"
            )
        name = clean(src)
        if has_glob(name):
            regex = _glob_regex(name)
            found = sorted(n for n in (*self.entries, *self.dirs) if n and regex.match(n))
            found = list(dict.fromkeys(found))
            if not found:
                raise CopyFailed(
                    f"{instruction} failed: no source files were specified"
                )
            return found
        if name in self.entries or name in self.dirs:
            return [name]
        raise CopyFailed(
            f"{instruction} failed: file not found in build context or excluded by "
            f".dockerignore: stat {name}: file does not exist"
        )

    def is_dir(self, name: str) -> bool:
        return name in self.dirs

    def walk(self, name: str) -> Iterator[tuple[str, tarfile.TarInfo | None]]:
        """(path relative to ``name``, member or None for an implied directory) for
        everything under directory ``name``, parents first."""
        prefix = name + "/" if name else ""
        names = sorted(
            {n for n in self.entries if n.startswith(prefix)}
            | {d for d in self.dirs if d.startswith(prefix) and d}
        )
        for n in names:
            yield n[len(prefix):], self.entries.get(n)

    def member(self, name: str) -> tarfile.TarInfo | None:
        return self.entries.get(name)

    def checksum(self, name: str) -> str:
        """The content checksum of a source: for a file its bytes and metadata, for a
        directory every entry under it (names, modes, link targets, bytes). Owners and
        mtimes are left out, as clients rewrite them."""
        cached = self._sums.get(name)
        if cached is not None:
            return cached
        h = hashlib.sha256()
        if self.is_dir(name) and not (name in self.entries and not self.entries[name].isdir()):
            h.update(b"dir\0")
            for rel, member in self.walk(name):
                h.update(rel.encode() + b"\0")
                h.update(self._member_sum(member).encode())
        else:
            h.update(b"file\0" + self._member_sum(self.entries[name]).encode())
        self._sums[name] = digest = h.hexdigest()
        return digest

    def _member_sum(self, member: tarfile.TarInfo | None) -> str:
        if member is None:
            return "d0755"
        kind = member.type.decode() if isinstance(member.type, bytes) else str(member.type)
        head = f"{kind}{member.mode & 0o7777:o}:{member.linkname}:"
        if member.isreg() or member.islnk():
            key = "m:" + member.name
            cached = self._sums.get(key)
            if cached is None:
                h = hashlib.sha256()
                with self.open(member) as f:
                    while chunk := f.read(SPOOL_CHUNK):
                        h.update(chunk)
                cached = self._sums[key] = h.hexdigest()
            return head + cached
        return head


def _directory_members(root: Path | None) -> Iterator[tarfile.TarInfo]:
    """What a tar of ``root`` would hold, from ``lstat`` (regular files, directories,
    symlinks; anything else is no build context material)."""
    assert root is not None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            info = tarfile.TarInfo(os.path.relpath(full, root))
            info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
            info.uid, info.gid = st.st_uid, st.st_gid
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
            else:
                continue
            yield info


def _is_git(url: str) -> bool:
    return url.startswith(("git://", "git@", "github.com/")) or url.endswith(".git") or (
        url.startswith(("http://", "https://")) and ".git#" in url
    )


def fetch_remote(url: str, workdir: Path, options: Any) -> BuildContext:
    """``remote=``: a git repository (``url#ref:subdir``, cloned with git), a tar archive
    over http(s), or a plain Dockerfile over http(s) (then the whole context)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if _is_git(url):
        repo, _, fragment = url.partition("#")
        ref, _, subdir = fragment.partition(":")
        checkout = workdir / "git"
        cmd = ["git", "clone", "--depth", "1", "--recurse-submodules"]
        if ref:
            cmd += ["--branch", ref]
        try:
            subprocess.run([*cmd, repo, str(checkout)], check=True, capture_output=True,
                           timeout=600)
        except FileNotFoundError:
            raise InvalidParameter("git is not installed: cannot build from a git URL") from None
        except subprocess.CalledProcessError as exc:
            raise InvalidParameter(
                f"error fetching git repository {url}: {exc.stderr.decode(errors='replace')}"
            ) from None
        root = checkout / subdir if subdir else checkout
        spool = workdir / "remote.tar"
        with tarfile.open(spool, "w") as tar:
            for path in sorted(root.rglob("*")):
                if ".git" in path.relative_to(checkout).parts[:1]:
                    continue
                tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
        with open(spool, "rb") as f:
            return BuildContext.receive(f, workdir / "ctx")
    if not url.startswith(("http://", "https://")):
        raise InvalidParameter(f"unable to prepare context: unsupported remote {url!r}")
    download = workdir / "remote"
    try:
        with urllib.request.urlopen(url, timeout=120) as resp, open(download, "wb") as out:
            shutil.copyfileobj(resp, out, SPOOL_CHUNK)
    except (OSError, ValueError) as exc:
        raise InvalidParameter(f"unable to prepare context: {url}: {exc}") from None
    with open(download, "rb") as f:
        try:
            with tarfile.open(fileobj=decompressed(f), mode="r|") as probe:  # type: ignore[arg-type]
                is_tar = probe.next() is not None
        except (tarfile.TarError, OSError, EOFError):
            is_tar = False
    if not is_tar:
        # A bare Dockerfile: the context holds just that file, under the name asked for.
        data = download.read_bytes()
        spool = workdir / "remote.tar"
        with tarfile.open(spool, "w") as tar:
            info = tarfile.TarInfo(options.dockerfile or "Dockerfile")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        download = spool
    with open(download, "rb") as f:
        return BuildContext.receive(f, workdir / "ctx")
