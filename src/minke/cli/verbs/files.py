"""Verbs on a container's files: ``cp`` (both ways), ``diff``, ``export``, ``commit``.

``cp`` follows the docker CLI; the tar packing and unpacking it shares with
``minke compose cp`` lives in ``minke.cli.copying``.
"""

from __future__ import annotations

import argparse
import os
import sys

from minke.client import quote_name

from ..context import CLIError, Context
from ..copying import copy_from, copy_to, split_target

CHANGE_KINDS = {0: "C", 1: "A", 2: "D"}


def configure_cp(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true",
                   help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true",
                   help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("src", metavar="SRC_PATH")
    p.add_argument("dest", metavar="DEST_PATH")


def do_cp(ctx: Context, args: argparse.Namespace) -> int:
    src_container, src = split_target(args.src)
    dest_container, dest = split_target(args.dest)
    if src_container and dest_container:
        raise CLIError("copying between containers is not supported", 1)
    if not src_container and not dest_container:
        raise CLIError("must specify at least one container source", 1)
    if src_container:
        copy_from(ctx, src_container, src, dest, args.follow_link)
    else:
        copy_to(ctx, src, dest_container or "", dest, args.archive)
    return 0


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
