"""``minke compose cp``: copy files between a service's containers and the local host.

As ``docker compose cp`` does it: ``SERVICE:SRC_PATH DEST_PATH|-`` copies out of one
container (``--index``, the first replica by default), ``SRC_PATH|- SERVICE:DEST_PATH``
copies into every container of the service (or only ``--index N``). One-off (``run``)
containers are left out, as Compose leaves them out. The tar work is ``minke cp``'s
(``minke.cli.copying``), through the same archive endpoints.
"""

from __future__ import annotations

import argparse
import sys

from minke.cli.context import CLIError, Context

from .. import model
from .commands_base import project_for

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any


def configure_cp(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true",
                   help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true",
                   help="Always follow symbol link in SRC_PATH")
    p.add_argument("--index", type=int, default=0, metavar="int",
                   help="Index of the container if service has multiple replicas")
    p.add_argument("--all", action="store_true", help=argparse.SUPPRESS)  # deprecated
    p.add_argument("src", metavar="SERVICE:SRC_PATH|SRC_PATH|-")
    p.add_argument("dest", metavar="DEST_PATH|-|SERVICE:DEST_PATH")


def do_cp(ctx: Context, args: argparse.Namespace) -> int:
    import shutil  # imported here: not on the path of the other commands
    import tempfile

    from minke.cli.copying import check_local_source, copy_from, copy_to, split_target

    src_service, src = split_target(args.src)
    dest_service, dest = split_target(args.dest)
    if src_service and dest_service:
        raise CLIError("copying between services is not supported", 1)
    if not src_service and not dest_service:
        raise CLIError("unknown copy direction: name a service as SERVICE:PATH", 1)
    if args.index < 0:
        raise CLIError(f"invalid --index {args.index}: must be 1 or more", 1)
    service = src_service or dest_service or ""
    if src_service and args.all:
        raise CLIError("cannot use the --all flag when copying from a service", 1)
    if dest_service:
        check_local_source(src)  # before any container is written to
    _, ex = project_for(ctx, args, [service])
    targets = _targets(ex.containers(services=[service]), service, args.index,
                       copying_out=bool(src_service))
    if src_service:
        name = _name(targets[0])
        ctx.stderr.write(f" Container {name}  Copying {name}:{src} to {dest}\n")
        # By name, so the daemon's errors ("Could not find the file …") name the container.
        copy_from(ctx, name, src, dest, args.follow_link)
        ctx.stderr.write(f" Container {name}  Copied\n")
        return 0
    with tempfile.TemporaryFile() as stdin:
        if src == "-":  # one tar on stdin, read once, sent to every container
            shutil.copyfileobj(sys.stdin.buffer, stdin)
        for target in targets:
            name = _name(target)
            ctx.stderr.write(f" Container {name}  Copying {src} to {name}:{dest}\n")
            stdin.seek(0)
            copy_to(ctx, src, name, dest, args.archive, stdin=stdin)
            ctx.stderr.write(f" Container {name}  Copied\n")
    return 0


def _targets(found: list[dict[str, Any]], service: str, index: int, *, copying_out: bool
             ) -> list[dict[str, Any]]:
    """The containers a copy goes to or comes from, by Compose's rules."""
    if index:
        for c in found:
            if c["Labels"].get(model.NUMBER) == str(index):
                return [c]
        raise CLIError(f'service "{service}" is not running container #{index}', 1)
    if not found:
        raise CLIError(f'no container found for service "{service}"', 1)
    # Copying out of several replicas makes no sense: Compose takes the first.
    return found[:1] if copying_out else found


def _name(container: dict[str, Any]) -> str:
    return str(container["Names"][0]).lstrip("/")
