"""``attach``: ``POST /wait`` (no condition), ``GET /json``, hijacked ``POST /attach``, then
the session until the container exits or the user detaches."""

from __future__ import annotations

import argparse

from minke import errors
from minke.client import WaitHandle, quote_name

from .. import session, terminal
from ..context import CLIError, Context, describe
from .run import attach_params, check_tty_input, parse_bool


def configure_attach(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detach-keys", metavar="string", help="Key sequence for detaching")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", type=parse_bool, default=True, metavar="bool",
                   help="Proxy all received signals to the process (default true)")
    p.add_argument("container", metavar="CONTAINER")


def do_attach(ctx: Context, args: argparse.Namespace) -> int:
    client = ctx.client
    path = f"/containers/{quote_name(args.container)}"
    detach_keys = terminal.parse_detach_keys(args.detach_keys)
    wait = WaitHandle(client, args.container, None)
    try:
        info = client.get(f"{path}/json")
        state = info.get("State") or {}
        if not state.get("Running"):
            raise CLIError("You cannot attach to a stopped container, start it first", 1)
        if state.get("Paused"):
            raise CLIError("You cannot attach to a paused container, unpause it first", 1)
        config = info.get("Config") or {}
        tty = bool(config.get("Tty"))
        stdin = not args.no_stdin and bool(config.get("OpenStdin"))
        check_tty_input(tty, stdin)
        conn = client.hijack("POST", f"{path}/attach", params=attach_params(
            stdin=stdin, stdout=True, stderr=True, detach_keys=args.detach_keys))
    except errors.MinkeError as exc:
        wait.close()
        raise CLIError(describe(exc), 1) from exc
    except CLIError:
        wait.close()
        raise
    with conn, session.local_terminal(client, path, tty=tty, stdin=stdin,
                                      sig_proxy_container=info["Id"] if args.sig_proxy
                                      else None):
        detached = session.pump(conn, tty=tty, stdin=stdin, detach_keys=detach_keys)
    if detached:
        wait.close()
        return 0
    return wait.result()
