"""Image verbs: ``images``, ``rmi``, ``tag``, ``history``."""

from __future__ import annotations

import argparse
import time

from minke.client import quote_name

from ..batch import for_each
from ..context import CLIError, Context
from ..filters import add_filter_option, filters_param
from ..formatting import Row, render_list
from ..units import created_ago, ellipsis, go_time, human_size, short_id

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS_FORMAT = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"
                         "\t{{.CreatedSince}}\t{{.Size}}")
IMAGE_TITLES = {
    "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
HISTORY_FORMAT = ("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}"
                  "\t{{.Comment}}")
HISTORY_TITLES = {
    "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
}
CREATED_BY_WIDTH = 45
NONE = "<none>"
DEFAULT_DOMAIN = "docker.io"


def configure_images(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true",
                   help="Show all images (default hides intermediate images)")
    p.add_argument("--digests", action="store_true", help="Show digests")
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("reference", metavar="REPOSITORY[:TAG]", nargs="?")


def do_images(ctx: Context, args: argparse.Namespace) -> int:
    filters = filters_param(args.filter) or {}
    if args.reference:
        filters.setdefault("reference", {})[args.reference] = True
    params = {"all": True if args.all else None, "filters": filters or None}
    images = ctx.client.get("/images/json", params) or []
    now = time.time()
    rows = [row for image in images
            for row in image_rows(image, trunc=not args.no_trunc, now=now)]
    default = IMAGES_DIGESTS_FORMAT if args.digests else IMAGES_FORMAT
    render_list(ctx.stdout, rows, args.format, default=default, titles=IMAGE_TITLES,
                quiet=args.quiet)
    return 0


def split_tag(reference: str) -> tuple[str, str]:
    """``REPOSITORY[:TAG]`` → (repository, tag or ""); a colon before a slash is a port."""
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, ""
    return name, tag


def image_rows(image: dict[str, Any], *, trunc: bool, now: float) -> list[Row]:
    """One row per tag (or one ``<none>`` row), as docker's image formatter lists them."""
    digests: dict[str, str] = {}
    for item in image.get("RepoDigests") or []:
        repo, _, digest = item.partition("@")
        digests.setdefault(repo, digest)
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    pairs = [split_tag(t) for t in tags]
    if not pairs:
        pairs = [(repo, NONE) for repo in digests] or [(NONE, NONE)]
    created = float(image.get("Created") or 0)
    ident = image.get("Id") or ""
    common = {
        "ID": short_id(ident) if trunc else ident,
        "CreatedSince": created_ago(created, now),
        "CreatedAt": go_time(created),
        "Size": human_size(float(image.get("Size") or 0)),
        "VirtualSize": human_size(float(image.get("VirtualSize") or image.get("Size") or 0)),
    }
    # The daemon sends -1 for counts it did not compute; docker shows those as N/A.
    containers, shared = image.get("Containers", -1), image.get("SharedSize", -1)
    common["Containers"] = str(containers) if containers >= 0 else "N/A"
    common["SharedSize"] = human_size(float(shared)) if shared >= 0 else "N/A"
    common["UniqueSize"] = (human_size(float(image.get("Size", 0) - shared)) if shared >= 0
                            else "N/A")
    return [Row({"Repository": repo, "Tag": tag or "latest",
                 "Digest": digests.get(repo, NONE), **common})
            for repo, tag in pairs]


def configure_rmi(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.add_argument("images", metavar="IMAGE", nargs="+")


def do_rmi(ctx: Context, args: argparse.Namespace) -> int:
    params = {"force": True if args.force else None,
              "noprune": True if args.no_prune else None}

    def remove(name: str) -> str:
        report = ctx.client.json("DELETE", f"/images/{quote_name(name)}", params=params) or []
        lines = [f"{key}: {value}" for item in report for key, value in item.items()]
        return "\n".join(lines)

    return for_each(ctx, args.images, remove)


def normalize_repository(repo: str) -> str:
    """docker's ``ParseNormalizedNamed`` as the CLI sends it: ``x`` → ``docker.io/library/x``."""
    first, sep, rest = repo.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return repo
    if not sep:
        return f"{DEFAULT_DOMAIN}/library/{repo}"
    return f"{DEFAULT_DOMAIN}/{repo}"


def configure_tag(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def do_tag(ctx: Context, args: argparse.Namespace) -> int:
    if "@" in args.target:
        raise CLIError("refusing to create a tag with a digest reference", 1)
    repo, tag = split_tag(args.target)
    if repo != repo.lower():
        raise CLIError(f'invalid reference format: repository name ({repo}) must be lowercase',
                       1)
    ctx.client.call("POST", f"/images/{quote_name(args.source)}/tag",
                    params={"repo": normalize_repository(repo), "tag": tag or "latest"})
    return 0


def configure_history(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("-H", "--human", type=lambda v: v.lower() in ("1", "true", "t"),
                   default=True, metavar="bool",
                   help="Print sizes and dates in human readable format (default true)")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("image", metavar="IMAGE")


def do_history(ctx: Context, args: argparse.Namespace) -> int:
    layers = ctx.client.get(f"/images/{quote_name(args.image)}/history") or []
    now = time.time()
    rows = [history_row(layer, trunc=not args.no_trunc, human=args.human, now=now)
            for layer in layers]
    render_list(ctx.stdout, rows, args.format, default=HISTORY_FORMAT, titles=HISTORY_TITLES,
                quiet=args.quiet)
    return 0


def history_row(layer: dict[str, Any], *, trunc: bool, human: bool, now: float) -> Row:
    ident = layer.get("Id") or "<missing>"
    created = float(layer.get("Created") or 0)
    created_by = (layer.get("CreatedBy") or "").replace("\t", " ")
    size = float(layer.get("Size") or 0)
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(created, UTC).astimezone().isoformat(timespec="seconds")
    return Row({
        "ID": short_id(ident) if trunc and ident != "<missing>" else ident,
        "CreatedSince": created_ago(created, now) if human else iso,
        "CreatedAt": iso,
        "CreatedBy": ellipsis(created_by, CREATED_BY_WIDTH) if trunc else created_by,
        "Size": human_size(size) if human else str(int(size)),
        "Comment": layer.get("Comment") or "",
        "Tags": ", ".join(layer.get("Tags") or []),
    })
