"""``minke volume create|ls|inspect|rm|prune``, with docker's flags, tables and texts."""

from __future__ import annotations

import argparse

from minke.client import quote_name

from ..batch import for_each, inspect_each
from ..context import CLIError, Context
from ..filters import add_filter_option, add_prune_options, filters_param, key_values
from ..formatting import Row, render_list
from ..units import human_size

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LS_FORMAT = "table {{.Driver}}\t{{.Name}}"
TITLES = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
          "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
          "CreatedAt": "CREATED AT"}
PRUNE_WARNING = "This will remove all local volumes not used by at least one container."


def configure_volume_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--driver", metavar="string", default="local",
                   help='Specify volume driver name (default "local")')
    p.add_argument("--label", metavar="list", action="append", default=[],
                   help="Set metadata for a volume")
    p.add_argument("-o", "--opt", metavar="map", action="append", default=[],
                   help="Set driver specific options")
    p.add_argument("--name", metavar="string", help="Specify volume name")
    p.add_argument("volume", metavar="VOLUME", nargs="?")


def do_volume_create(ctx: Context, args: argparse.Namespace) -> int:
    if args.name and args.volume and args.name != args.volume:
        raise CLIError("Conflicting options: either specify --name or provide positional "
                       "arg, not both", 125)
    body = {"Name": args.volume or args.name or "", "Driver": args.driver,
            "DriverOpts": key_values(args.opt, "--opt"),
            "Labels": key_values(args.label, "--label", need_value=False)}
    volume = ctx.client.post("/volumes/create", body=body)
    ctx.stdout.write(volume["Name"] + "\n")
    return 0


def configure_volume_ls(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Pretty-print volumes using a Go template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")


def volume_row(volume: dict[str, Any]) -> Row:
    labels = volume.get("Labels") or {}
    usage = volume.get("UsageData") or {}
    fields = {
        "Name": volume["Name"], "Driver": volume["Driver"], "Scope": volume.get("Scope", ""),
        "Mountpoint": volume.get("Mountpoint", ""), "CreatedAt": volume.get("CreatedAt", ""),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Links": str(usage["RefCount"]) if usage.get("RefCount", -1) >= 0 else "N/A",
        "Size": human_size(float(usage["Size"])) if usage.get("Size", -1) >= 0 else "N/A",
    }
    return Row(fields, {"Label": lambda key: labels.get(key, "")})


def do_volume_ls(ctx: Context, args: argparse.Namespace) -> int:
    filters = filters_param(args.filter)
    reply = ctx.client.get("/volumes", {"filters": filters} if filters else None) or {}
    rows = [volume_row(v) for v in sorted(reply.get("Volumes") or [],
                                          key=lambda v: v["Name"])]
    fmt = "{{.Name}}" if args.quiet else args.format
    render_list(ctx.stdout, rows, fmt, default=LS_FORMAT, titles=TITLES)
    return 0


def configure_volume_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")
    p.add_argument("volumes", metavar="VOLUME", nargs="+")


def do_volume_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from .inspect import find

    return inspect_each(ctx, args.volumes, lambda name: find(ctx.client, name, "volume", False),
                        args.format)


def configure_volume_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the removal of one or more volumes")
    p.add_argument("volumes", metavar="VOLUME", nargs="+")


def do_volume_rm(ctx: Context, args: argparse.Namespace) -> int:
    params = {"force": True} if args.force else None

    def remove(name: str) -> None:
        ctx.client.call("DELETE", f"/volumes/{quote_name(name)}", params=params)
    return for_each(ctx, args.volumes, remove)


def configure_volume_prune(p: argparse.ArgumentParser) -> None:
    add_prune_options(p, "label=<label>")


def do_volume_prune(ctx: Context, args: argparse.Namespace) -> int:
    if not args.force and not ctx.confirm(PRUNE_WARNING):
        return 0
    filters = filters_param(args.filter)
    report = ctx.client.post("/volumes/prune", {"filters": filters} if filters else None) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Volumes:\n" + "".join(f"{n}\n" for n in deleted) + "\n")
    reclaimed = human_size(float(report.get("SpaceReclaimed") or 0))
    ctx.stdout.write(f"Total reclaimed space: {reclaimed}\n")
    return 0
