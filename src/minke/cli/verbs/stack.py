"""``minke stack deploy|ls|ps|services|rm``: Compose files deployed as swarm stacks through
the API, as the docker CLI's ``stack`` verbs do it client-side. The project is read by
minke's Compose loader and converted by ``minke.compose.stack``; every object carries the
``com.docker.stack.namespace`` label, which is all ``ls``, ``ps``, ``services`` and ``rm``
go by, so stacks deployed by ``docker stack deploy`` and by ``minke`` are one and the same.
"""

from __future__ import annotations

import argparse

from minke.client import quote_name

from ..context import CLIError, Context, describe
from ..formatting import Row, render_list

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAMESPACE = "com.docker.stack.namespace"  # as minke.compose.stack (not imported: start-up)
NOT_A_MANAGER = ('this node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again')


def _namespace(stack: str) -> dict[str, Any]:
    return {"filters": {"label": {f"{NAMESPACE}={stack}": True}}}


def _check_manager(ctx: Context) -> None:
    if not (ctx.client.get("/info").get("Swarm") or {}).get("ControlAvailable"):
        raise CLIError(NOT_A_MANAGER)


def configure_stack_deploy(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--compose-file", dest="files", metavar="strings", action="append",
                   default=[], help="Path to a Compose file, or \"-\" to read from stdin")
    p.add_argument("--prune", action="store_true", help="Prune services that are no longer "
                   "referenced")
    p.add_argument("-d", "--detach", action="store_true", default=True,
                   help="Exit immediately instead of waiting for the stack services to "
                   "converge (the default)")
    p.add_argument("--resolve-image", metavar="string", default="always",
                   help='Query the registry to resolve image digest ("always", "changed", '
                   '"never"); minke\'s daemon resolves nothing: accepted for compatibility')
    p.add_argument("stack", metavar="STACK")


def do_stack_deploy(ctx: Context, args: argparse.Namespace) -> int:
    from minke.compose.errors import ComposeFileError
    from minke.compose.loader.cache import load
    from minke.compose.loader.options import ProjectOptions
    from minke.compose.model import Project
    from minke.compose.stack import convert

    if not args.files:
        raise CLIError('Please specify a Compose file (with --compose-file).')
    try:
        loaded = load(ProjectOptions(files=args.files, project_name=args.stack))
        stack = convert(Project(args.stack, loaded.model, loaded.working_dir,
                                loaded.config_files))
    except ComposeFileError as exc:
        raise CLIError(str(exc)) from None
    _check_manager(ctx)
    for warning in stack.warnings:
        ctx.stderr.write(warning + "\n")
    _deploy_networks(ctx, args.stack, stack.networks)
    ids = {kind: _deploy_files(ctx, kind, getattr(stack, kind))
           for kind in ("secrets", "configs")}
    existing = {s["Spec"]["Name"]: s for s in ctx.client.get("/services",
                                                            _namespace(args.stack))}
    for name, spec in stack.services.items():
        container = spec["TaskTemplate"]["ContainerSpec"]
        for kind, key in (("secrets", "Secret"), ("configs", "Config")):
            api = "Secrets" if kind == "secrets" else "Configs"
            for ref in container.get(api, []):
                ref[f"{key}ID"] = ids[kind][ref[f"{key}Name"]]
        current = existing.get(name)
        if current is None:
            ctx.stdout.write(f"Creating service {name}\n")
            answer = ctx.client.post("/services/create", body=spec)
        else:
            ctx.stdout.write(f"Updating service {name} (id: {current['ID']})\n")
            answer = ctx.client.post(f"/services/{current['ID']}/update",
                                     {"version": current["Version"]["Index"]}, spec)
        for warning in (answer or {}).get("Warnings") or []:
            ctx.stderr.write(warning + "\n")
    if args.prune:
        for name, service in sorted(existing.items()):
            if name not in stack.services:
                ctx.stdout.write(f"Removing service {name}\n")
                ctx.client.call("DELETE", f"/services/{service['ID']}")
    return 0


def _deploy_networks(ctx: Context, stack: str, networks: dict[str, Any]) -> None:
    present = {n["Name"] for n in ctx.client.get("/networks", _namespace(stack))}
    for name, body in networks.items():
        if body is None:
            try:
                found = ctx.client.get(f"/networks/{quote_name(name)}")
            except Exception:  # noqa: BLE001 - any answer but the network is "not found"
                found = None
            if found is None or found.get("Scope") != "swarm":
                raise CLIError(f'network "{name}" is declared as external, but could not be '
                               "found. You need to create a swarm-scoped network before the "
                               "stack is deployed")
            continue
        if name not in present:
            ctx.stdout.write(f"Creating network {name}\n")
            ctx.client.post("/networks/create", body=body)


def _deploy_files(ctx: Context, kind: str, wanted: dict[str, Any]) -> dict[str, str]:
    """Create the stack's secrets or configs not there yet; their IDs by name."""
    present = {x["Spec"]["Name"]: x["ID"] for x in ctx.client.get(f"/{kind}")}
    for name, spec in wanted.items():
        if spec is None:
            if name not in present:
                raise CLIError(f"{kind[:-1]} not found: {name}")
            continue
        if name not in present:
            ctx.stdout.write(f"Creating {kind[:-1]} {name}\n")
            present[name] = ctx.client.post(f"/{kind}/create", body=spec)["ID"]
    return present


def configure_stack_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", metavar="string", help="Format output using a custom template")


def do_stack_ls(ctx: Context, args: argparse.Namespace) -> int:
    counts: dict[str, int] = {}
    for service in ctx.client.get("/services"):
        name = (service["Spec"].get("Labels") or {}).get(NAMESPACE)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    rows = [Row({"Name": name, "Services": str(n)}) for name, n in sorted(counts.items())]
    render_list(ctx.stdout, rows, args.format, default="table {{.Name}}\t{{.Services}}",
                titles={"Name": "NAME", "Services": "SERVICES"})
    return 0


def _services(ctx: Context, stack: str) -> list[dict[str, Any]]:
    services = ctx.client.get("/services", _namespace(stack))
    if not services:
        raise CLIError(f"nothing found in stack: {stack}")
    return services


def configure_stack_services(p: argparse.ArgumentParser) -> None:
    from .service import configure_service_ls

    configure_service_ls(p)
    p.add_argument("stack", metavar="STACK")


def do_stack_services(ctx: Context, args: argparse.Namespace) -> int:
    from .service import do_service_ls

    _services(ctx, args.stack)
    args.filter = [*(args.filter or []), f"label={NAMESPACE}={args.stack}"]
    return do_service_ls(ctx, args)


def configure_stack_ps(p: argparse.ArgumentParser) -> None:
    from ..filters import add_filter_option

    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Pretty-print tasks using a template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display task IDs")
    p.add_argument("stack", metavar="STACK")


def do_stack_ps(ctx: Context, args: argparse.Namespace) -> int:
    from .service import do_service_ps

    args.services = sorted(s["Spec"]["Name"] for s in _services(ctx, args.stack))
    return do_service_ps(ctx, args)


def configure_stack_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("stacks", metavar="STACK", nargs="+")


def do_stack_rm(ctx: Context, args: argparse.Namespace) -> int:
    failures = []
    for stack in args.stacks:
        where = _namespace(stack)
        services = ctx.client.get("/services", where)
        secrets = ctx.client.get("/secrets", where)
        configs = ctx.client.get("/configs", where)
        networks = ctx.client.get("/networks", where)
        if not (services or secrets or configs or networks):
            ctx.stdout.write(f"Nothing found in stack: {stack}\n")
            continue
        for service in sorted(services, key=lambda s: s["Spec"]["Name"]):
            ctx.stdout.write(f"Removing service {service['Spec']['Name']}\n")
            failures += _remove(ctx, f"/services/{service['ID']}")
        for kind, items in (("secret", secrets), ("config", configs)):
            for item in sorted(items, key=lambda x: x["Spec"]["Name"]):
                ctx.stdout.write(f"Removing {kind} {item['Spec']['Name']}\n")
                failures += _remove(ctx, f"/{kind}s/{item['ID']}")
        for network in sorted(networks, key=lambda n: n["Name"]):
            ctx.stdout.write(f"Removing network {network['Name']}\n")
            failures += _remove(ctx, f"/networks/{network['Id']}")
    if failures:
        raise CLIError("\n".join(failures))
    return 0


def _remove(ctx: Context, path: str) -> list[str]:
    """DELETE ``path``: its failure, if any (gone already is none)."""
    from minke import errors

    try:
        ctx.client.call("DELETE", path)
    except errors.NotFound:
        pass
    except errors.MinkeError as exc:
        return [f"Failed to remove {path.split('/')[-1]}: {describe(exc)}"]
    return []
