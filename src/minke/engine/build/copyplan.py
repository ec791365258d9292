"""COPY and ADD before they write: their sources resolved (context paths and globs, heredocs,
URLs, another stage's or image's files with ``--from``), their destination (relative to
WORKDIR; a directory when it ends with ``/``), their cache key from content checksums, and
their history text (``COPY file:<sum> in /dest `` as dockerd writes it). ``CopyPlan.write``
then runs in a worker thread on the step's mounted root filesystem.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import posixpath
import re
import secrets
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke.engine.build import fscopy
from minke.engine.build.cache import step_key
from minke.engine.build.context import CopyFailed, clean, has_glob
from minke.engine.build.dockerignore import Matcher
from minke.engine.build.expand import process_word
from minke.engine.build.instructions import Instruction

if TYPE_CHECKING:
    from minke.engine.build.builder import StageState
    from minke.engine.build.steps import Steps

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_HEREDOC_ARG = re.compile(r"^\d*<<-?[\"']?([A-Za-z0-9_.]+)[\"']?$")


@dataclass
class Source:
    kind: str  # context | heredoc | url | image
    name: str  # context path, heredoc name, URL, or path in the image
    data: bytes = b""
    path: Path | None = None  # a downloaded URL
    mtime: float = 0.0
    image_id: str = ""
    digest: str = ""
    keep: str = ""  # COPY --parents: the path kept under the destination


@dataclass
class CopyPlan:
    key: str
    created_by: str
    write: Callable[[Path], None]
    files: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)


def expand_heredoc(content: str, env: dict[str, str]) -> str:
    """``$NAME``/``${NAME}`` in an unquoted heredoc (quotes are plain text there)."""
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), content)


def download(url: str, workdir: Path) -> tuple[Path, str, float]:
    """ADD of a URL: the file, its sha256 and its Last-Modified time (now when absent)."""
    fd, name = tempfile.mkstemp(dir=workdir, prefix="add-")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except (OSError, ValueError) as exc:
        Path(name).unlink(missing_ok=True)
        raise CopyFailed(f"ADD failed: {url}: {exc}") from None
    mtime = time.time()
    if modified:
        try:
            mtime = parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            pass
    return Path(name), h.hexdigest(), mtime


def url_basename(url: str) -> str:
    path = urllib.parse.urlparse(url).path
    return posixpath.basename(path.rstrip("/")) or "__unnamed__"


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


async def plan_copy(steps: Steps, state: StageState, inst: Instruction, *, add: bool) -> CopyPlan:
    build = steps.build
    word = inst.cmd
    env = state.env()
    escape = build.escape
    heredocs = {d.name: d for d in inst.node.heredocs}
    raw_args = inst.args
    args = [a if _HEREDOC_ARG.match(a) else process_word(a, env, escape) for a in raw_args]
    dest_raw, srcs = args[-1], args[:-1]
    workdir = state.config.get("WorkingDir") or "/"
    dest_dir = dest_raw.endswith("/") or dest_raw in (".", "..") or dest_raw.endswith("/.")
    dest = posixpath.normpath(posixpath.join(workdir, dest_raw))
    from_ = process_word(inst.flag("from"), env, escape) if inst.flag("from") else ""
    if from_ and add:
        raise inst.error("ADD does not take --from")
    chown = process_word(inst.flag("chown"), env, escape)
    chmod = fscopy.parse_chmod(inst.flag("chmod"))
    from_image = await build.resolve_image(from_, inst) if from_ else None
    raw_excludes = inst.flags.get("exclude", [])
    excludes = [process_word(e, env, escape) for e in
                (raw_excludes if isinstance(raw_excludes, list) else [raw_excludes])]
    try:
        excluded = Matcher(excludes) if excludes else None
    except ValueError as exc:
        raise inst.error(f"invalid --exclude pattern: {exc}") from None
    parents = inst.flag("parents") == "true"
    if parents and from_:
        raise inst.error("COPY --parents copies from the build context only in minke's builder")

    sources: list[Source] = []
    tmp = build.root / "tmp"
    for src in srcs:
        match = _HEREDOC_ARG.match(src)
        if match and match.group(1) in heredocs:
            doc = heredocs[match.group(1)]
            text = expand_heredoc(doc.content, env) if doc.expand else doc.content
            data = text.encode()
            sources.append(Source("heredoc", doc.name, data=data,
                                  digest=hashlib.sha256(data).hexdigest()))
        elif is_url(src):
            if not add:
                raise CopyFailed(f"{word} failed: source can't be a URL for COPY")
            path, digest, mtime = await asyncio.to_thread(download, src, tmp)
            sources.append(Source("url", src, path=path, mtime=mtime, digest=digest))
        elif from_:
            if from_image is None:
                raise inst.error(f"invalid from flag value {from_}")
            sources.append(Source("image", src, image_id=from_image,
                                  digest=hashlib.sha256(f"{from_image}:{src}".encode())
                                  .hexdigest()))
        else:
            # --parents keeps each source's path below the context root (or below a "/./"
            # pivot in the source); --exclude drops what its patterns match.
            pivot = src.split("/./", 1)[0] if parents and "/./" in src else ""
            for name in build.ctx.sources(src.replace("/./", "/"), word):
                if excluded is not None and excluded.excluded(name):
                    continue
                digest = await asyncio.to_thread(build.ctx.checksum, name)
                keep = clean(name[len(clean(pivot)):]) if pivot else name
                sources.append(Source("context", name, digest=digest,
                                      keep=keep if parents else ""))
    files = [s.path for s in sources if s.path is not None]
    if parents and not dest_dir:
        raise inst.error(f"{word} --parents needs a directory destination ending with /")
    if (len(sources) > 1 or any(has_glob(s) for s in srcs if from_)) and not dest_dir:
        for path in files:
            path.unlink(missing_ok=True)
        raise inst.error(
            f"When using {word} with more than one source file, the destination must be a "
            "directory and end with a /"
        )
    kind = "multi"
    if len(sources) == 1:
        one = sources[0]
        kind = "dir" if one.kind == "context" and build.ctx.is_dir(one.name) and not (
            build.ctx.member(one.name) is not None and not build.ctx.member(one.name).isdir()
        ) else "file"
    combined = hashlib.sha256("\n".join(s.digest for s in sources).encode()).hexdigest()
    shell = list(state.config.get("Shell") or ["/bin/sh", "-c"])
    created_by = f"{' '.join(shell)} #(nop) {word} {kind}:{combined} in {dest_raw} "
    state.config["Image"] = state.image_id or ""
    key = step_key(state.image_id, {
        "created_by": created_by, "config": state.config, "dest": dest, "dest_dir": dest_dir,
        "chown": chown, "chmod": chmod, "sources": [(s.kind, s.name, s.digest) for s in sources],
        "add": add, **({"excludes": excludes} if excludes else {}),
        **({"parents": [s.keep for s in sources]} if parents else {}),
    })

    def write(root: Path) -> None:
        writer = fscopy.Writer(root, fscopy.resolve_owner(root, chown), chmod)
        into_dir = dest_dir or writer.is_dir(dest)
        for source in sources:
            _write_source(build, writer, source, dest, into_dir, add=add, excluded=excluded)

    return CopyPlan(key, created_by, write, files)


def _file_target(dest: str, into_dir: bool, name: str) -> str:
    return posixpath.join(dest, posixpath.basename(name)) if into_dir else dest


def _write_source(build: Any, writer: fscopy.Writer, source: Source, dest: str,
                  into_dir: bool, *, add: bool, excluded: Matcher | None = None) -> None:
    if source.kind == "heredoc":
        data = source.data
        entry = fscopy.Entry("", "file", 0o644, time.time(), opener=lambda: io.BytesIO(data))
        writer.write(_file_target(dest, into_dir, source.name), iter([entry]))
    elif source.kind == "url":
        path = source.path
        assert path is not None
        entry = fscopy.Entry("", "file", 0o600, source.mtime, opener=lambda: open(path, "rb"))
        writer.write(_file_target(dest, into_dir, url_basename(source.name)), iter([entry]))
    elif source.kind == "context":
        ctx = build.ctx
        member = ctx.member(source.name)
        is_file = member is not None and not member.isdir()
        if add and is_file and (member.isreg() or member.islnk()):
            with ctx.open(member) as f:
                archive = fscopy.is_archive(f)
            if archive:
                with ctx.open(member) as f:
                    writer.unpack(dest, f)
                return
        if source.keep:  # --parents
            target = posixpath.join(dest, source.keep)
            writer.makedirs(posixpath.dirname(target) if is_file else target)
        elif is_file:
            target = _file_target(dest, into_dir, source.name)
        else:
            target = dest
            writer.makedirs(dest)
        entries = fscopy.context_entries(ctx, source.name)
        if excluded is not None and not is_file:
            prefix = source.name + "/" if source.name else ""
            entries = (e for e in entries if not e.rel or not excluded.excluded(e.rel)
                       and not excluded.excluded(prefix + e.rel))
        writer.write(target, entries)
    else:
        _write_from_image(build, writer, source, dest, into_dir)


def _write_from_image(build: Any, writer: fscopy.Writer, source: Source, dest: str,
                      into_dir: bool) -> None:
    """``COPY --from``: the source image mounted (a throwaway snapshot) while it is read."""
    images = build.images
    snapshots = images.snapshots
    key = f"build-from-{secrets.token_hex(8)}"
    target = build.root / "mnt" / key
    snapshots.prepare(key, images.top_chain_id(source.image_id))
    try:
        snapshots.mount(key, target)
        try:
            paths = (fscopy.rootfs_glob(target, source.name) if has_glob(source.name)
                     else [source.name])
            if not paths:
                raise CopyFailed("COPY failed: no source files were specified")
            for path in paths:
                from minke.engine.containers.rootfs import resolve_in_root

                if not os.path.lexists(resolve_in_root(target, path)):
                    raise CopyFailed(f"COPY failed: stat {path}: file does not exist")
                is_dir = resolve_in_root(target, path).is_dir()
                if is_dir:
                    writer.makedirs(dest)
                    writer.write(dest, fscopy.rootfs_entries(target, path))
                else:
                    writer.write(_file_target(dest, into_dir or len(paths) > 1, path),
                                 fscopy.rootfs_entries(target, path))
        finally:
            snapshots.unmount(target)
    finally:
        snapshots.remove(key)
        shutil.rmtree(target, ignore_errors=True)
