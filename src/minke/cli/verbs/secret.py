"""``minke secret create|ls|inspect|rm`` with docker's flags, tables and texts; the same
verbs for configs (``verbs/config.py``) are these with ``kind`` "config"."""

from __future__ import annotations

import argparse
import sys

from minke.client import quote_name

from ..batch import for_each
from ..context import CLIError, Context
from ..filters import add_filter_option, filters_param, key_values
from ..formatting import Row, render_inspect, render_list

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LS_FORMAT = {
    "secret": "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
    "config": "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
}
TITLES = {"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED",
          "UpdatedAt": "UPDATED", "Labels": "LABELS"}


def configure_create(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("-l", "--label", metavar="list", action="append", default=[],
                   help=f"{kind.title()} labels")
    if kind == "secret":
        p.add_argument("-d", "--driver", metavar="string", help="Secret driver")
    p.add_argument("--template-driver", metavar="string", help="Template driver")
    p.add_argument("name", metavar=kind.upper())
    p.add_argument("file", metavar="file|-")


def do_create(ctx: Context, args: argparse.Namespace, kind: str) -> int:
    labels = key_values(args.label, "--label", need_value=False)
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise CLIError(f"Error reading content from \"{args.file}\": {exc}") from None
    import base64

    spec: dict[str, Any] = {"Name": args.name, "Labels": labels,
                            "Data": base64.b64encode(data).decode()}
    if getattr(args, "driver", None):
        spec["Driver"] = {"Name": args.driver}
    if args.template_driver:
        spec["Templating"] = {"Name": args.template_driver}
    created = ctx.client.post(f"/{kind}s/create", body=spec)
    ctx.stdout.write(created["ID"] + "\n")
    return 0


def configure_ls(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Pretty-print using a Go template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")


def row(obj: dict[str, Any]) -> Row:
    from ..units import created_ago, parse_timestamp

    spec = obj["Spec"]
    labels = spec.get("Labels") or {}
    fields = {
        "ID": obj["ID"], "Name": spec["Name"],
        "Driver": (spec.get("Driver") or {}).get("Name", ""),
        "CreatedAt": created_ago(parse_timestamp(obj["CreatedAt"])),
        "UpdatedAt": created_ago(parse_timestamp(obj["UpdatedAt"])),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
    }
    return Row(fields, {"Label": lambda key: labels.get(key, "")})


def do_ls(ctx: Context, args: argparse.Namespace, kind: str) -> int:
    filters = filters_param(args.filter)
    found = ctx.client.get(f"/{kind}s", {"filters": filters} if filters else None)
    found.sort(key=lambda o: o["Spec"]["Name"])
    render_list(ctx.stdout, [row(o) for o in found], args.format, default=LS_FORMAT[kind],
                titles=TITLES, quiet=args.quiet)
    return 0


def configure_inspect(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")
    p.add_argument("--pretty", action="store_true",
                   help="Print the information in a human friendly format")
    p.add_argument("names", metavar=kind.upper(), nargs="+")


def pretty(obj: dict[str, Any], kind: str) -> str:
    """``inspect --pretty``: docker's text layouts (spaces for secrets, tabs for configs)."""
    from .node import _pretty_time

    spec = obj["Spec"]
    secret = kind == "secret"
    lines = [("ID:              " if secret else "ID:\t\t\t") + obj["ID"],
             ("Name:              " if secret else "Name:\t\t\t") + spec["Name"]]
    labels = spec.get("Labels") or {}
    if labels:
        lines.append("Labels:")
        lines += [f" - {k}" + (f"={v}" if v else "") for k, v in sorted(labels.items())]
    created, updated = _pretty_time(obj["CreatedAt"]), _pretty_time(obj["UpdatedAt"])
    if secret:
        lines += ["Driver:            " + (spec.get("Driver") or {}).get("Name", ""),
                  "Created at:        " + created, "Updated at:        " + updated]
    else:
        import base64

        lines += ["Created at:            \t" + created, "Updated at:            \t" + updated,
                  "Data:", base64.b64decode(spec.get("Data") or "").decode(errors="replace")]
    return "\n".join(lines)


def do_inspect(ctx: Context, args: argparse.Namespace, kind: str) -> int:
    found, failures = [], []
    for name in args.names:
        try:
            found.append(ctx.client.get(f"/{kind}s/{quote_name(name)}"))
        except Exception as exc:  # reported as docker does, after the others
            from ..context import describe

            failures.append(describe(exc))
    if args.pretty:
        ctx.stdout.write("".join(pretty(o, kind) + "\n" for o in found))
    else:
        render_inspect(ctx.stdout, args.format, found)
    if failures:
        raise CLIError("\n".join(failures))
    return 0


def configure_rm(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("names", metavar=kind.upper(), nargs="+")


def do_rm(ctx: Context, args: argparse.Namespace, kind: str) -> int:
    def remove(name: str) -> None:
        ctx.client.call("DELETE", f"/{kind}s/{quote_name(name)}")
    return for_each(ctx, args.names, remove)


def configure_secret_create(p: argparse.ArgumentParser) -> None:
    configure_create(p, "secret")


def do_secret_create(ctx: Context, args: argparse.Namespace) -> int:
    return do_create(ctx, args, "secret")


configure_secret_ls = configure_ls


def do_secret_ls(ctx: Context, args: argparse.Namespace) -> int:
    return do_ls(ctx, args, "secret")


def configure_secret_inspect(p: argparse.ArgumentParser) -> None:
    configure_inspect(p, "secret")


def do_secret_inspect(ctx: Context, args: argparse.Namespace) -> int:
    return do_inspect(ctx, args, "secret")


def configure_secret_rm(p: argparse.ArgumentParser) -> None:
    configure_rm(p, "secret")


def do_secret_rm(ctx: Context, args: argparse.Namespace) -> int:
    return do_rm(ctx, args, "secret")
