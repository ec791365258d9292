"""Verbs that freeze, measure and clean up: ``pause``, ``unpause``, ``system df``,
``container prune`` and ``image prune``, printed as the docker CLI prints them."""

from __future__ import annotations

import argparse

from minke.client import quote_name
from minke.units import human_size

from ..batch import for_each
from ..context import CLIError, Context
from ..filters import add_prune_options
from ..formatting import tabwrite


def _names(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", metavar="CONTAINER", nargs="+")


def configure_pause(p: argparse.ArgumentParser) -> None:
    _names(p)


def do_pause(ctx: Context, args: argparse.Namespace) -> int:
    return for_each(ctx, args.containers, lambda name: ctx.client.call(
        "POST", f"/containers/{quote_name(name)}/pause") and None)


def configure_unpause(p: argparse.ArgumentParser) -> None:
    _names(p)


def do_unpause(ctx: Context, args: argparse.Namespace) -> int:
    return for_each(ctx, args.containers, lambda name: ctx.client.call(
        "POST", f"/containers/{quote_name(name)}/unpause") and None)


# -- system df ------------------------------------------------------------------------------


def configure_system_df(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", metavar="string", help="Pretty-print images using a Go template")
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on "
                   "space usage")


def _reclaimable(size: int, total: int) -> str:
    percent = int(size * 100 / total) if total else 0
    return f"{human_size(size)} ({percent}%)" if total else human_size(size)


def usage_rows(doc: dict[str, object]) -> list[tuple[str, int, int, int, int]]:
    """(type, total, active, size, reclaimable) per kind, as the docker CLI sums them."""
    images = doc.get("Images") or []
    containers = doc.get("Containers") or []
    volumes = doc.get("Volumes") or []
    active_images = [i for i in images if i.get("Containers", 0) > 0]  # type: ignore[union-attr]
    image_size = int(doc.get("LayersSize") or 0)
    used = sum(i["Size"] - i.get("SharedSize", 0) for i in active_images)  # type: ignore[index]
    shared = max((i.get("SharedSize", 0) for i in active_images), default=0)  # type: ignore[union-attr]
    running = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]  # type: ignore[union-attr]
    rw = sum(c.get("SizeRw", 0) for c in containers)  # type: ignore[union-attr]
    rw_running = sum(c.get("SizeRw", 0) for c in running)  # type: ignore[union-attr]
    vol_size = sum(max(v.get("UsageData", {}).get("Size", 0), 0) for v in volumes)  # type: ignore[union-attr]
    vol_active = [v for v in volumes if v.get("UsageData", {}).get("RefCount", 0) > 0]  # type: ignore[union-attr]
    vol_used = sum(max(v["UsageData"]["Size"], 0) for v in vol_active)  # type: ignore[index]
    return [
        ("Images", len(images), len(active_images), image_size,
         max(image_size - used - shared, 0)),
        ("Containers", len(containers), len(running), rw, rw - rw_running),
        ("Local Volumes", len(volumes), len(vol_active), vol_size, vol_size - vol_used),
        ("Build Cache", 0, 0, 0, 0),
    ]


def do_system_df(ctx: Context, args: argparse.Namespace) -> int:
    if args.verbose:
        raise CLIError("minke system df: --verbose is not supported; use the docker CLI or "
                       "GET /system/df", 1)
    doc = ctx.client.get("/system/df") or {}
    rows = usage_rows(doc)
    if args.format:
        from ..template import Template

        template = Template(args.format)
        for kind, total, active, size, reclaim in rows:
            ctx.stdout.write(template.render({
                "Type": kind, "TotalCount": str(total), "Active": str(active),
                "Size": human_size(size), "Reclaimable": _reclaimable(reclaim, size)}) + "\n")
        return 0
    lines = ["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE"]
    for kind, total, active, size, reclaim in rows:
        lines.append(f"{kind}\t{total}\t{active}\t{human_size(size)}\t"
                     f"{_reclaimable(reclaim, size)}")
    ctx.stdout.write(tabwrite(lines))
    return 0


# -- prune ----------------------------------------------------------------------------------


def _filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise CLIError(f"bad format of filter (expected name=value): {item}", 125)
        out.setdefault(key, []).append(value)
    return out


def configure_container_prune(p: argparse.ArgumentParser) -> None:
    add_prune_options(p, "until=<timestamp>")


def do_container_prune(ctx: Context, args: argparse.Namespace) -> int:
    if not args.force and not ctx.confirm("This will remove all stopped containers."):
        return 0
    doc = ctx.client.post("/containers/prune", params={"filters": _filters(args.filter)}) or {}
    deleted = doc.get("ContainersDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in deleted) + "\n")
    ctx.stdout.write(f"Total reclaimed space: {human_size(doc.get('SpaceReclaimed') or 0)}\n")
    return 0


def configure_image_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true",
                   help="Remove all unused images, not just dangling ones")
    add_prune_options(p, "until=<timestamp>")


def do_image_prune(ctx: Context, args: argparse.Namespace) -> int:
    warning = ("This will remove all images without at least one container associated to "
               "them." if args.all else "This will remove all dangling images.")
    if not args.force and not ctx.confirm(warning):
        return 0
    filters = _filters(args.filter)
    if args.all:
        filters["dangling"] = ["false"]
    doc = ctx.client.post("/images/prune", params={"filters": filters}) or {}
    deleted = doc.get("ImagesDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Images:\n")
        for item in deleted:
            for key, value in item.items():
                ctx.stdout.write(f"{key.lower()}: {value}\n")
        ctx.stdout.write("\n")
    ctx.stdout.write(f"Total reclaimed space: {human_size(doc.get('SpaceReclaimed') or 0)}\n")
    return 0
