"""``logs``: ``GET /containers/{id}/json`` (is it a tty?) then the chunked log stream,
demultiplexed onto stdout and stderr unless the container has a tty."""

from __future__ import annotations

import argparse
import sys

from minke.client import quote_name

from ..context import Context
from ..session import copy_output
from ..units import api_time


def configure_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--since", metavar="string", help="Show logs since timestamp or relative")
    p.add_argument("-n", "--tail", metavar="string", default="all",
                   help='Number of lines to show from the end of the logs (default "all")')
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--until", metavar="string", help="Show logs before a timestamp or relative")
    p.add_argument("container", metavar="CONTAINER")


def do_logs(ctx: Context, args: argparse.Namespace) -> int:
    path = f"/containers/{quote_name(args.container)}"
    info = ctx.client.get(f"{path}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {
        "details": True if args.details else None,
        "follow": True if args.follow else None,
        "since": api_time(args.since) if args.since else None,
        "stderr": True,
        "stdout": True,
        "tail": args.tail,
        "timestamps": True if args.timestamps else None,
        "until": api_time(args.until) if args.until else None,
    }
    with ctx.client.stream("GET", f"{path}/logs", params=params) as stream:
        copy_output(stream.chunks(), tty=tty, stdout=sys.stdout.buffer,
                    stderr=sys.stderr.buffer)
    return 0
