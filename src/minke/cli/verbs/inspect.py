"""``inspect``: low-level JSON of containers and images (and networks, volumes), as a JSON
array or through ``--format``; objects are looked up by type in docker's order."""

from __future__ import annotations

import argparse

from minke import errors
from minke.client import APIClient, quote_name

from ..batch import inspect_each
from ..context import CLIError, Context

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# Type → (lookup path, what docker calls a missing one), in the order docker tries them.
LOOKUPS: dict[str, tuple[str, str]] = {
    "container": ("/containers/{}/json", "container"),
    "image": ("/images/{}/json", "image"),
    "network": ("/networks/{}", "network"),
    "volume": ("/volumes/{}", "volume"),
}


def configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")
    p.add_argument("-s", "--size", action="store_true",
                   help="Display total file sizes if the type is container")
    p.add_argument("--type", metavar="string", choices=sorted(LOOKUPS),
                   help="Only inspect objects of the given type")
    p.add_argument("names", metavar="NAME|ID", nargs="+")


def find(client: APIClient, name: str, kind: str | None, size: bool) -> Any:
    """The object called ``name``; ``CLIError`` in docker's words if there is none."""
    for candidate in [kind] if kind else list(LOOKUPS):
        path = LOOKUPS[candidate][0].format(quote_name(name))
        params = {"size": True} if size and candidate == "container" else None
        try:
            return client.get(path, params)
        except errors.NotFound:
            continue
    raise CLIError(f"Error: No such {LOOKUPS[kind][1] if kind else 'object'}: {name}")


def do_inspect(ctx: Context, args: argparse.Namespace) -> int:
    return inspect_each(ctx, args.names,
                        lambda name: find(ctx.client, name, args.type, args.size), args.format)
