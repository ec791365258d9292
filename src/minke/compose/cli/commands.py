"""The ``minke compose`` sub-commands: flags (``configure_*``) and what each does (``do_*``).

Each loads the project with the global flags, then works through the ``Executor`` or the
client directly (``ps``, ``logs``, ``exec`` are single API calls per container).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from minke.cli.context import CLIError, Context

from .. import model
from ..executor import Executor, UpOptions
from .commands_base import load_project, project_for, table

Configure = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[Context, argparse.Namespace], int]


# --- config ------------------------------------------------------------------------------

def configure_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="yaml", choices=("yaml", "json"))
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--services", action="store_true")
    p.add_argument("--volumes", action="store_true")
    p.add_argument("--profiles", action="store_true")
    p.add_argument("--images", action="store_true")
    p.add_argument("-o", "--output", metavar="string")
    p.add_argument("services_", nargs="*", metavar="SERVICE")


def do_config(ctx: Context, args: argparse.Namespace) -> int:
    from ..loader import dump

    project = load_project(args, args.services_)
    listing: list[str] | None = None
    if args.services:
        listing = list(project.services)
    elif args.volumes:
        listing = list(project.section("volumes"))
    elif args.profiles:
        listing = sorted({p for s in [*project.services.values(), *project.disabled.values()]
                          for p in s.get("profiles") or []})
    elif args.images:
        listing = [project.image_name(s) for s in project.services]
    if listing is not None:
        ctx.stdout.write("".join(f"{x}\n" for x in listing))
        return 0
    if args.quiet:
        return 0
    text = dump(project.model, args.format)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        ctx.stdout.write(text)
    return 0


# --- up / down ---------------------------------------------------------------------------

def configure_up(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--build", action="store_true")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--pull", choices=("always", "missing", "never"))
    p.add_argument("--wait", action="store_true")
    p.add_argument("--wait-timeout", type=int, metavar="int")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("--force-recreate", action="store_true")
    p.add_argument("--no-recreate", action="store_true")
    p.add_argument("--no-start", action="store_true")
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM")
    p.add_argument("--abort-on-container-exit", action="store_true")
    p.add_argument("--exit-code-from", metavar="string")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("--no-log-prefix", action="store_true")
    p.add_argument("-t", "--timeout", type=int, metavar="int")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _scale(values: list[str]) -> dict[str, int]:
    out = {}
    for item in values:
        name, sep, num = item.partition("=")
        if not sep or not num.isdigit():
            raise CLIError(f"invalid --scale value {item!r}: expected SERVICE=NUM", 1)
        out[name] = int(num)
    return out


def do_up(ctx: Context, args: argparse.Namespace) -> int:
    if args.force_recreate and args.no_recreate:
        raise CLIError("--force-recreate and --no-recreate are incompatible", 1)
    if args.exit_code_from:
        args.abort_on_container_exit = True
    project, ex = project_for(ctx, args, args.services)
    scale = _scale(args.scale)
    for name in scale:
        if name not in project.services:
            raise CLIError(f"no such service: {name}", 1)
    ex.up(UpOptions(services=args.services, build=args.build, no_build=args.no_build,
                    pull=args.pull, force_recreate=args.force_recreate,
                    no_recreate=args.no_recreate, no_deps=args.no_deps,
                    no_start=args.no_start, remove_orphans=args.remove_orphans, scale=scale,
                    wait=args.wait, wait_timeout=args.wait_timeout, timeout=args.timeout))
    if args.detach or args.wait or args.no_start:
        return 0
    from . import attach as attach_mod  # threads and colours: only for attached output

    return attach_mod.follow(ctx, ex, args.services or list(project.services),
                             abort=args.abort_on_container_exit,
                             exit_code_from=args.exit_code_from, color=not args.no_color,
                             prefix=not args.no_log_prefix, timeout=args.timeout)


def configure_down(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("--rmi", choices=("local", "all"))
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("-t", "--timeout", type=int, metavar="int")


def do_down(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args)
    ex.down(volumes=args.volumes, remove_orphans=args.remove_orphans, timeout=args.timeout,
            rmi=args.rmi)
    return 0


# --- ps, ls, images, port, top ----------------------------------------------------------

def configure_ps(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--services", action="store_true")
    p.add_argument("--format", default="table", metavar="string")
    p.add_argument("--status", action="append", default=[])
    p.add_argument("services_", nargs="*", metavar="SERVICE")


def _ports(c: dict[str, Any]) -> str:
    out = []
    for p in sorted(c.get("Ports") or [], key=lambda p: (p.get("PrivatePort", 0),
                                                          p.get("IP", ""))):
        if p.get("PublicPort"):
            out.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->"
                       f"{p['PrivatePort']}/{p.get('Type', 'tcp')}")
        else:
            out.append(f"{p['PrivatePort']}/{p.get('Type', 'tcp')}")
    return ", ".join(out)


def do_ps(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args)
    found = ex.containers(services=args.services_)
    if not args.all:
        found = [c for c in found if c.get("State") in ("running", "paused", "restarting")]
    if args.status:
        found = [c for c in found if c.get("State") in args.status]
    if args.quiet:
        ctx.stdout.write("".join(c["Id"] + "\n" for c in found))
        return 0
    if args.services:
        names = dict.fromkeys(c["Labels"][model.SERVICE] for c in found)
        ctx.stdout.write("".join(f"{n}\n" for n in names))
        return 0
    rows = [{"ID": c["Id"], "Name": c["Names"][0].lstrip("/"), "Image": c.get("Image", ""),
             "Command": c.get("Command", ""), "Project": c["Labels"].get(model.PROJECT),
             "Service": c["Labels"].get(model.SERVICE), "Created": c.get("Created"),
             "State": c.get("State"), "Status": c.get("Status"),
             "Health": _health(c.get("Status", "")), "ExitCode": 0,
             "Publishers": [{"URL": p.get("IP", ""), "TargetPort": p.get("PrivatePort"),
                             "PublishedPort": p.get("PublicPort", 0),
                             "Protocol": p.get("Type")} for p in c.get("Ports") or []],
             "Ports": _ports(c)} for c in found]
    if args.format == "json":
        ctx.stdout.write(json.dumps(rows) + "\n")
        return 0
    table(ctx, ["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"],
          [[r["Name"], r["Image"],
            json.dumps(_trunc(r["Command"] or "", 20), ensure_ascii=False), r["Service"],
            r["Status"], r["Ports"]] for r in rows])
    return 0


def _trunc(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _health(status: str) -> str:
    for word in ("healthy", "unhealthy", "starting"):
        if f"({word})" in status or f"(health: {word})" in status:
            return word
    return ""


def configure_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", default="table")


def do_ls(ctx: Context, args: argparse.Namespace) -> int:
    found = ctx.client.get("/containers/json", {"all": True,
                                                "filters": {"label": [model.PROJECT]}})
    projects: dict[str, dict[str, Any]] = {}
    for c in found:
        labels = c.get("Labels") or {}
        p = projects.setdefault(labels[model.PROJECT], {"states": {}, "files": set()})
        p["states"][c["State"]] = p["states"].get(c["State"], 0) + 1
        if labels.get(model.CONFIG_FILES):
            p["files"].add(labels[model.CONFIG_FILES])
    rows = []
    for name in sorted(projects):
        states = projects[name]["states"]
        if not args.all and not states.get("running"):
            continue
        status = ", ".join(f"{s}({n})" for s, n in sorted(states.items()))
        rows.append({"Name": name, "Status": status,
                     "ConfigFiles": ",".join(sorted(projects[name]["files"]))})
    if args.quiet:
        ctx.stdout.write("".join(r["Name"] + "\n" for r in rows))
    elif args.format == "json":
        ctx.stdout.write(json.dumps(rows) + "\n")
    else:
        table(ctx, ["NAME", "STATUS", "CONFIG FILES"],
              [[r["Name"], r["Status"], r["ConfigFiles"]] for r in rows])
    return 0


def configure_images(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("services", nargs="*")


def do_images(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args)
    rows = []
    for c in ex.containers(services=args.services):
        image = ctx.client.get(f"/images/{c['ImageID']}/json")
        repo, _, tag = (c.get("Image") or "").partition(":")
        rows.append([c["Names"][0].lstrip("/"), repo, tag or "latest",
                     image["Id"].split(":")[-1][:12], f"{image.get('Size', 0) / 1e6:.3g}MB"])
    if args.quiet:
        ctx.stdout.write("".join(f"{r[3]}\n" for r in rows))
    else:
        table(ctx, ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], rows)
    return 0


def configure_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=int, default=1)
    p.add_argument("--protocol", default="tcp")
    p.add_argument("service")
    p.add_argument("private_port")


def do_port(ctx: Context, args: argparse.Namespace) -> int:
    ex = project_for(ctx, args, [args.service])[1]
    target = one_container(ex, args.service, args.index)
    ports = (target.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{args.private_port}/{args.protocol}") or []:
        ctx.stdout.write(f"{binding.get('HostIp') or '0.0.0.0'}:{binding['HostPort']}\n")
        return 0
    raise CLIError(f"no port {args.private_port}/{args.protocol} for container "
                   f"{target['Name'].lstrip('/')}", 1)


def one_container(ex: Executor, service: str, index: int) -> dict[str, Any]:
    for c in ex.containers(services=[service]):
        if c["Labels"].get(model.NUMBER) == str(index):
            return ex.inspect(c["Id"])
    raise CLIError(f"service \"{service}\" is not running container #{index}", 1)


def configure_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*")


def do_top(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args)
    for c in ex.containers(services=args.services):
        if c.get("State") != "running":
            continue
        top = ctx.client.get(f"/containers/{c['Id']}/top")
        ctx.stdout.write(c["Names"][0].lstrip("/") + "\n")
        table(ctx, top["Titles"], top["Processes"])
        ctx.stdout.write("\n")
    return 0


def configure_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--short", action="store_true")
    p.add_argument("-f", "--format", default="pretty")


def do_version(ctx: Context, args: argparse.Namespace) -> int:
    from minke import __version__

    if args.short:
        ctx.stdout.write(f"{__version__}\n")
    elif args.format == "json":
        ctx.stdout.write(json.dumps({"version": __version__}) + "\n")
    else:
        ctx.stdout.write(f"minke compose version {__version__}\n")
    return 0


from .copy import configure_cp, do_cp  # noqa: E402
from .lifecycle import COMMANDS as _LIFECYCLE  # noqa: E402 - the second half of the table

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

COMMANDS: dict[str, tuple[str, Configure, Handler]] = {
    "config": ("Parse, resolve and render compose file in canonical format",
               configure_config, do_config),
    "up": ("Create and start containers", configure_up, do_up),
    "down": ("Stop and remove containers, networks", configure_down, do_down),
    "ps": ("List containers", configure_ps, do_ps),
    "ls": ("List running compose projects", configure_ls, do_ls),
    "images": ("List images used by the created containers", configure_images, do_images),
    "port": ("Print the public port for a port binding", configure_port, do_port),
    "top": ("Display the running processes", configure_top, do_top),
    "version": ("Show the Docker Compose version information", configure_version, do_version),
    "cp": ("Copy files/folders between a service container and the local filesystem",
           configure_cp, do_cp),
    **_LIFECYCLE,
}
