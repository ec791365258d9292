"""``ps``: ``GET /containers/json`` shown through docker's container formatter."""

from __future__ import annotations

import argparse
import time

from ..context import Context
from ..filters import add_filter_option, filters_param
from ..formatting import Row, render_list
from ..units import created_ago, ellipsis, go_time, human_size, short_id

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}"
                  "\t{{.Ports}}\t{{.Names}}")
TITLES = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL()",
    "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
}
COMMAND_WIDTH = 20
MOUNT_WIDTH = 15


def configure_ps(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("-n", "--last", metavar="int", type=int, default=-1,
                   help="Show n last created containers (includes all states)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="Show the latest created container (includes all states)")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")


def do_ps(ctx: Context, args: argparse.Namespace) -> int:
    limit = 1 if args.latest else args.last
    params: dict[str, Any] = {
        "all": True if args.all or limit > 0 else None,
        "limit": limit if limit > 0 else None,
        "size": True if args.size else None,
        "filters": filters_param(args.filter),
    }
    containers = ctx.client.get("/containers/json", params) or []
    now = time.time()
    rows = [container_row(c, trunc=not args.no_trunc, now=now) for c in containers]
    default = DEFAULT_FORMAT + ("\t{{.Size}}" if args.size else "")
    render_list(ctx.stdout, rows, args.format, default=default, titles=TITLES,
                quiet=args.quiet)
    return 0


def container_row(c: dict[str, Any], *, trunc: bool, now: float) -> Row:
    """One container as docker's ``ContainerContext`` shows it."""
    labels: dict[str, str] = c.get("Labels") or {}
    names = [n.lstrip("/") for n in c.get("Names") or []]
    if trunc:  # links appear as other/name; docker hides them unless --no-trunc
        names = [n for n in names if "/" not in n]
    image = c.get("Image") or ""
    if trunc and image.startswith("sha256:"):
        image = short_id(image)
    command = c.get("Command") or ""
    created = float(c.get("Created") or 0)
    fields = {
        "ID": short_id(c["Id"]) if trunc else c["Id"],
        "Image": image,
        "Command": _quote(ellipsis(command, COMMAND_WIDTH) if trunc else command),
        "CreatedAt": go_time(created),
        "RunningFor": created_ago(created, now),
        "Ports": display_ports(c.get("Ports") or []),
        "State": c.get("State") or "",
        # The daemon words Status ("Up 3 seconds"); the state stands in if it sends none.
        "Status": c.get("Status") or (c.get("State") or "").capitalize(),
        "Size": _size(c),
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Mounts": ",".join(
            ellipsis(m.get("Name") or m.get("Source") or "", MOUNT_WIDTH) if trunc
            else m.get("Name") or m.get("Source") or "" for m in c.get("Mounts") or []),
        "Networks": ",".join(sorted(((c.get("NetworkSettings") or {})

                                     .get("Networks") or {}).keys())),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
    }
    return Row(fields, {"Label": lambda name: labels.get(name, "")})


def _quote(text: str) -> str:
    # Go's strconv.Quote for the printable text commands hold: backslash and quote escaped.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _size(c: dict[str, Any]) -> str:
    rw, root = c.get("SizeRw"), c.get("SizeRootFs")
    if rw is None and root is None:
        return "0B"
    text = human_size(float(rw or 0))
    return f"{text} (virtual {human_size(float(root))})" if root else text


def display_ports(ports: list[dict[str, Any]]) -> str:
    """docker's ``DisplayablePorts``: ``0.0.0.0:8080->80/tcp, 443/tcp``."""
    seen: list[str] = []
    for port in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""))):
        proto = port.get("Type") or "tcp"
        if port.get("PublicPort"):
            ip = port.get("IP") or ""
            host = f"[{ip}]" if ":" in ip else ip
            text = f"{host}:{port['PublicPort']}->{port['PrivatePort']}/{proto}"
        else:
            text = f"{port['PrivatePort']}/{proto}"
        if text not in seen:
            seen.append(text)
    return ", ".join(seen)
