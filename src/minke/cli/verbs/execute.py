"""``exec``: ``GET /containers/{id}/json`` → ``POST /containers/{id}/exec`` → hijacked
``POST /exec/{id}/start`` → resize → session → ``GET /exec/{id}/json`` for the exit code."""

from __future__ import annotations

import argparse
import os

from minke import errors
from minke.client import quote_name

from .. import session, terminal
from ..context import CLIError, Context, describe
from ..runopts import read_env
from .run import check_tty_input


def configure_exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true",
                   help="Detached mode: run command in the background")
    p.add_argument("--detach-keys", metavar="string", help="Key sequence for detaching")
    p.add_argument("-e", "--env", metavar="list", action="append", default=[],
                   help="Set environment variables")
    p.add_argument("--env-file", metavar="list", action="append", default=[],
                   help="Read in a file of environment variables")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-u", "--user", metavar="string", help="Username or UID")
    p.add_argument("-w", "--workdir", metavar="string", help="Working directory")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", metavar="COMMAND [ARG...]", nargs=argparse.REMAINDER)


def exec_config(args: argparse.Namespace) -> dict[str, object]:
    """The ``POST /containers/{id}/exec`` body for the parsed flags."""
    body: dict[str, object] = {
        "User": args.user or "",
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": args.interactive and not args.detach,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
        "Env": read_env(args.env_file, args.env, os.environ),
        "WorkingDir": args.workdir or "",
        "Cmd": args.command,
    }
    if args.detach_keys:
        body["DetachKeys"] = args.detach_keys
    return body


def do_exec(ctx: Context, args: argparse.Namespace) -> int:
    if not args.command:
        raise CLIError('"minke exec" requires at least 2 arguments.\n'
                       "See 'minke exec --help'.", 1)
    client = ctx.client
    body = exec_config(args)
    detach_keys = terminal.parse_detach_keys(args.detach_keys)
    stdin = bool(body["AttachStdin"])
    check_tty_input(args.tty, stdin)
    try:
        client.get(f"/containers/{quote_name(args.container)}/json")
        exec_id = client.post(f"/containers/{quote_name(args.container)}/exec",
                              body=body)["Id"]
        start = {"Detach": args.detach, "Tty": args.tty}
        if args.detach:
            client.call("POST", f"/exec/{exec_id}/start", body=start)
            return 0
        conn = client.hijack("POST", f"/exec/{exec_id}/start", body=start)
    except errors.MinkeError as exc:
        raise CLIError(describe(exc), 1) from exc
    with conn, session.local_terminal(client, f"/exec/{exec_id}", tty=args.tty, stdin=stdin):
        detached = session.pump(conn, tty=args.tty, stdin=stdin, detach_keys=detach_keys)
    if detached:
        return 0
    return int(client.get(f"/exec/{exec_id}/json").get("ExitCode") or 0)
