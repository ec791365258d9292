"""Copying files between the local host and a container through the archive endpoints.

What ``minke cp`` and ``minke compose cp`` share, as the docker CLI does it: ``HEAD
…/archive`` to learn what the container path is, then a tar ``PUT`` into the right
directory (renaming the top entry when the destination does not exist), or a tar ``GET``
extracted locally by the same rules; ``-`` reads or writes the tar itself. Local extraction
refuses entries and links that would land outside the destination (``tarfile``'s ``tar``
filter), as the docker CLI does. Standard library only: the CLI imports it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile

from minke import errors
from minke.client import quote_name

from .context import CLIError, Context

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

GO_MODE_DIR = 1 << 31
TAR = {"Content-Type": "application/x-tar"}


def split_target(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` (or ``SERVICE:PATH``) → (name, path); a local path → (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    container, _, path = arg.partition(":")
    return container, path


def _archive(name: str) -> str:
    return f"/containers/{quote_name(name)}/archive"


def _stat(ctx: Context, container: str, path: str) -> dict[str, object] | None:
    try:
        response = ctx.client.call("HEAD", _archive(container), params={"path": path})
    except errors.NotFound:
        return None
    raw = response.headers.get("x-docker-container-path-stat")
    return json.loads(base64.b64decode(raw)) if raw else None


def copy_from(ctx: Context, container: str, src: str, dest: str,
              follow_link: bool = False) -> None:
    """``CONTAINER:SRC`` to the local ``DEST`` (``-``: the tar to stdout)."""
    # A trailing "/" makes the daemon resolve a symbolic link at SRC (docker cp -L).
    params = {"path": src + ("/" if follow_link else "")}
    with ctx.client.stream("GET", _archive(container), params=params) as stream:
        if dest == "-":
            for chunk in stream.chunks():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        stat = json.loads(base64.b64decode(stream.headers["x-docker-container-path-stat"]))
        reader = io.BufferedReader(_ChunkReader(stream.chunks()))
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            _extract_local(tar, str(stat["name"]), dest)


class _ChunkReader(io.RawIOBase):
    """A readable file over the chunks of a streamed response body."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _extract_local(tar: tarfile.TarFile, top: str, dest: str) -> None:
    if os.path.isdir(dest) and not dest.endswith("/."):
        tar.extractall(dest, filter="tar")
        return
    if top == ".":  # SRC/. : the contents into DEST, made if missing
        os.makedirs(dest, exist_ok=True)
        tar.extractall(dest, filter="tar")
        return
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        raise CLIError(f"destination directory {parent!r} must exist", 1)
    staging = tempfile.mkdtemp(dir=parent, prefix=".minke-cp-")
    try:
        tar.extractall(staging, filter="tar")
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.replace(os.path.join(staging, top), dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_local_source(src: str) -> None:
    """Refuse a local SRC that is not there, before any container is touched."""
    if src != "-" and not os.path.lexists(src):
        raise CLIError(f'stat {src}: no such file or directory', 1)


def copy_to(ctx: Context, src: str, container: str, dest: str, archive: bool,
            stdin: Any = None) -> None:
    """The local ``SRC`` (``-``: a tar read from ``stdin``) to ``CONTAINER:DEST``."""
    params = {"noOverwriteDirNonDir": True, "copyUIDGID": archive or None}
    if src == "-":
        ctx.client.call("PUT", _archive(container), params={**params, "path": dest},
                        data=stdin if stdin is not None else sys.stdin.buffer, headers=TAR)
        return
    check_local_source(src)
    contents_only = src.endswith("/.")
    info = _stat(ctx, container, dest)
    if info is not None and int(info["mode"]) & GO_MODE_DIR:  # type: ignore[call-overload]
        target, name = dest, "." if contents_only else os.path.basename(src.rstrip("/"))
    elif info is None and dest.endswith("/"):
        raise CLIError(f'Error: No such container:path: {container}:{dest}', 1)
    else:  # a new name, or an existing file replaced
        target = os.path.dirname(dest.rstrip("/")) or "/"
        name = os.path.basename(dest.rstrip("/"))
        if contents_only and info is not None:
            raise CLIError(f"cannot copy a directory's contents onto the file {dest}", 1)
    with tempfile.TemporaryFile() as body:
        with tarfile.open(fileobj=body, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(src.rstrip("/") if not contents_only else src[:-2] or "/", arcname=name)
        body.seek(0)
        ctx.client.call("PUT", _archive(container), params={**params, "path": target},
                        data=body, headers=TAR)
