"""Image archives: ``import`` (a rootfs tarball), ``save`` and ``load`` (image tarballs).

Bodies stream from files or stdin with chunked encoding, so large archives never sit in
memory; the answers are JSON-message streams shown by ``progress``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from contextlib import ExitStack

from ..context import CLIError, Context
from ..progress import show_messages
from ..terminal import is_tty

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


TAR = {"Content-Type": "application/x-tar"}


def _open_input(stack: ExitStack, path: str | None) -> IO[bytes]:
    if path is None or path == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as exc:
        raise CLIError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from exc


def configure_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--change", metavar="list", action="append", default=[],
                   help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", metavar="string", help="Set commit message")
    p.add_argument("--platform", metavar="string", help="Set platform")
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("reference", metavar="REPOSITORY[:TAG]", nargs="?")


def do_import(ctx: Context, args: argparse.Namespace) -> int:
    from .images import split_tag

    repo, tag = split_tag(args.reference) if args.reference else ("", "")
    remote = args.source.startswith(("http://", "https://"))
    params = {
        "fromSrc": args.source if remote else "-",
        "repo": repo or None,
        "tag": tag or None,
        "message": args.message,
        "changes": tuple(args.change) or None,
        "platform": args.platform,
    }
    with ExitStack() as stack:
        body = None if remote else _open_input(stack, args.source)
        with ctx.client.stream("POST", "/images/create", params=params, data=body,
                               headers=TAR) as stream:
            show_messages(ctx.stdout, stream.json_messages())
    return 0


def configure_save(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="string",
                   help="Write to a file, instead of STDOUT")
    p.add_argument("--format", metavar="string", choices=("docker", "oci"), default="docker",
                   help="docker (loads into Docker and OCI tools) or oci (a plain OCI layout)")
    p.add_argument("images", metavar="IMAGE", nargs="+")


def do_save(ctx: Context, args: argparse.Namespace) -> int:
    if args.output is None and is_tty(sys.stdout.fileno()):
        raise CLIError("cowardly refusing to save to a terminal. "
                       "Use the -o flag or redirect")
    params = {"names": tuple(args.images),
              "format": args.format if args.format != "docker" else None}
    with ctx.client.stream("GET", "/images/get", params=params) as stream, ExitStack() as stack:
        out = (stack.enter_context(open(args.output, "wb")) if args.output
               else sys.stdout.buffer)
        for chunk in stream.chunks():
            out.write(chunk)
        out.flush()
    return 0


def configure_load(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", metavar="string",
                   help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


def do_load(ctx: Context, args: argparse.Namespace) -> int:
    if args.input is None and is_tty(sys.stdin.fileno()):
        raise CLIError("requested load from stdin, but stdin is empty")
    params = {"quiet": True if args.quiet else None}
    with ExitStack() as stack:
        body = _open_input(stack, args.input)
        with ctx.client.stream("POST", "/images/load", params=params, data=body,
                               headers=TAR) as stream:
            if "json" in stream.headers.get("content-type", "json"):
                show_messages(ctx.stdout, stream.json_messages())
            else:
                shutil.copyfileobj(stream.response, sys.stdout.buffer)
    return 0
