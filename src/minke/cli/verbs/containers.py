"""Container lifecycle verbs that act on names: stop, restart, kill, rm, wait, rename, top."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from minke import errors
from minke.client import quote_name

from ..batch import for_each
from ..context import Context
from ..formatting import tabwrite

TOP_MIN_WIDTH = 20  # docker top's tabwriter is wider than the listings'


def _path(name: str, action: str = "") -> str:
    return f"/containers/{quote_name(name)}{'/' + action if action else ''}"


def _post(ctx: Context, action: str, params: dict[str, object]) -> Callable[[str], None]:
    """The per-name action of stop, restart and kill: one POST, the name echoed."""

    def act(name: str) -> None:
        ctx.client.call("POST", _path(name, action), params=params)

    return act


def _names(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", metavar="CONTAINER", nargs="+")


def configure_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", metavar="string", help="Signal to send to the container")
    p.add_argument("-t", "--time", "--timeout", dest="time", metavar="int", type=int,
                   help="Seconds to wait before killing the container")
    _names(p)


def do_stop(ctx: Context, args: argparse.Namespace) -> int:
    params = {"t": args.time, "signal": args.signal}
    return for_each(ctx, args.containers, _post(ctx, "stop", params))


def configure_restart(p: argparse.ArgumentParser) -> None:
    configure_stop(p)


def do_restart(ctx: Context, args: argparse.Namespace) -> int:
    params = {"t": args.time, "signal": args.signal}
    return for_each(ctx, args.containers, _post(ctx, "restart", params))


def configure_kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", metavar="string", help="Signal to send to the container")
    _names(p)


def do_kill(ctx: Context, args: argparse.Namespace) -> int:
    params = {"signal": args.signal}
    return for_each(ctx, args.containers, _post(ctx, "kill", params))


def configure_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the removal of a running container (uses SIGKILL)")
    p.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    p.add_argument("-v", "--volumes", action="store_true",
                   help="Remove anonymous volumes associated with the container")
    _names(p)


def do_rm(ctx: Context, args: argparse.Namespace) -> int:
    params = {"v": args.volumes or None, "link": args.link or None, "force": args.force or None}

    def remove(name: str) -> str | None:
        try:
            ctx.client.call("DELETE", _path(name), params=params)
        except errors.NotFound:
            if args.force:
                return ""  # docker rm -f is quiet about containers that are already gone
            raise
        return None

    return for_each(ctx, args.containers, remove)


def configure_wait(p: argparse.ArgumentParser) -> None:
    _names(p)


def do_wait(ctx: Context, args: argparse.Namespace) -> int:
    def wait(name: str) -> str:
        doc = ctx.client.post(_path(name, "wait")) or {}
        return str(doc.get("StatusCode", 0))

    return for_each(ctx, args.containers, wait)


def configure_rename(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def do_rename(ctx: Context, args: argparse.Namespace) -> int:
    ctx.client.call("POST", _path(args.container, "rename"), params={"name": args.new_name})
    return 0


def configure_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", metavar="ps OPTIONS", nargs=argparse.REMAINDER)


def do_top(ctx: Context, args: argparse.Namespace) -> int:
    params = {"ps_args": " ".join(args.ps_args)} if args.ps_args else None
    doc = ctx.client.get(_path(args.container, "top"), params) or {}
    lines = ["\t".join(doc.get("Titles") or [])]
    lines += ["\t".join(row) for row in doc.get("Processes") or []]
    ctx.stdout.write(tabwrite(lines, minwidth=TOP_MIN_WIDTH))
    return 0
