"""Verbs on a container's files: ``cp`` (both ways), ``diff``, ``export``, ``commit``.

``cp`` follows the docker CLI: ``HEAD …/archive`` to learn what the container path is,
then a tar ``PUT`` into the right directory (renaming the top entry when the destination
does not exist), or a tar ``GET`` extracted locally by the same rules; ``-`` reads or writes
the tar itself. Local extraction refuses entries and links that would land outside the
destination (``tarfile``'s ``tar`` filter), as the docker CLI does.
"""

from __future__ import annotations

import argparse
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

from ..context import CLIError, Context

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

GO_MODE_DIR = 1 << 31
TAR = {"Content-Type": "application/x-tar"}
CHANGE_KINDS = {0: "C", 1: "A", 2: "D"}


def _split(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` → (container, path); a local path → (None, path)."""
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


def configure_cp(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true",
                   help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true",
                   help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("src", metavar="SRC_PATH")
    p.add_argument("dest", metavar="DEST_PATH")


def do_cp(ctx: Context, args: argparse.Namespace) -> int:
    src_container, src = _split(args.src)
    dest_container, dest = _split(args.dest)
    if src_container and dest_container:
        raise CLIError("copying between containers is not supported", 1)
    if not src_container and not dest_container:
        raise CLIError("must specify at least one container source", 1)
    if src_container:
        _copy_from(ctx, src_container, src + ("/" if args.follow_link else ""), dest)
    else:
        _copy_to(ctx, src, dest_container or "", dest, args.archive)
    return 0


def _copy_from(ctx: Context, container: str, src: str, dest: str) -> None:
    with ctx.client.stream("GET", _archive(container), params={"path": src}) as stream:
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


def _copy_to(ctx: Context, src: str, container: str, dest: str, archive: bool) -> None:
    params = {"noOverwriteDirNonDir": True, "copyUIDGID": archive or None}
    if src == "-":
        ctx.client.call("PUT", _archive(container), params={**params, "path": dest},
                        data=sys.stdin.buffer, headers=TAR)
        return
    if not os.path.lexists(src):
        raise CLIError(f'stat {src}: no such file or directory', 1)
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


def configure_diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")


def do_diff(ctx: Context, args: argparse.Namespace) -> int:
    changes = ctx.client.get(f"/containers/{quote_name(args.container)}/changes") or []
    for change in changes:
        ctx.stdout.write(f"{CHANGE_KINDS.get(change['Kind'], '?')} {change['Path']}\n")
    return 0


def configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="string", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")


def do_export(ctx: Context, args: argparse.Namespace) -> int:
    if args.output is None and os.isatty(sys.stdout.fileno()):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    path = f"/containers/{quote_name(args.container)}/export"
    with ctx.client.stream("GET", path) as stream:
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            for chunk in stream.chunks():
                out.write(chunk)
            out.flush()
        finally:
            if args.output:
                out.close()
    return 0


def configure_commit(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--author", metavar="string",
                   help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", metavar="list", action="append", default=[],
                   help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", metavar="string", help="Commit message")
    p.add_argument("-p", "--pause", default="true", nargs="?", const="true",
                   metavar="bool", help="Pause container during commit (default true)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("reference", metavar="[REPOSITORY[:TAG]]", nargs="?")


def do_commit(ctx: Context, args: argparse.Namespace) -> int:
    from .images import split_tag

    repo, tag = split_tag(args.reference) if args.reference else ("", "")
    pause = str(args.pause).lower() not in ("false", "0")
    params = {"container": args.container, "repo": repo or None, "tag": tag or None,
              "author": args.author, "comment": args.message,
              "changes": tuple(args.change) or None, "pause": pause}
    doc = ctx.client.post("/commit", params=params) or {}
    ctx.stdout.write(f"{doc.get('Id', '')}\n")
    return 0
