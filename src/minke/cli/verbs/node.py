"""``minke node ls|inspect|update|rm|promote|demote``, with docker's flags, tables and
texts (``self`` names the node the daemon runs on)."""

from __future__ import annotations

import argparse

from minke.client import quote_name

from ..batch import for_each
from ..context import CLIError, Context
from ..filters import add_filter_option, filters_param, key_values
from ..formatting import Row, render_inspect, render_list

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LS_FORMAT = ("table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
             "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}")
TITLES = {"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS",
          "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
          "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS"}


def _self_id(ctx: Context) -> str:
    return ctx.client.get("/info")["Swarm"]["NodeID"]


def _reference(ctx: Context, ref: str) -> str:
    """docker's ``node.Reference``: ``self`` is this daemon's node."""
    if ref != "self":
        return ref
    node_id = _self_id(ctx)
    if not node_id:
        raise CLIError("Error: This node is not part of a swarm")
    return node_id


def _manager_status(node: dict[str, Any]) -> str:
    status = node.get("ManagerStatus")
    if not status:
        return ""
    return "Leader" if status.get("Leader") else str(status.get("Reachability", "")).title()


def node_row(node: dict[str, Any], self_id: str) -> Row:
    labels = node["Spec"].get("Labels") or {}
    fields = {
        "ID": node["ID"], "Self": node["ID"] == self_id,
        "Hostname": node.get("Description", {}).get("Hostname", ""),
        "Status": node["Status"]["State"].title(),
        "Availability": node["Spec"]["Availability"].title(),
        "ManagerStatus": _manager_status(node),
        "EngineVersion": node.get("Description", {}).get("Engine", {}).get("EngineVersion", ""),
        "TLSStatus": "Ready",
    }
    return Row(fields, {"Label": lambda key: labels.get(key, "")})


def configure_node_ls(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")


def do_node_ls(ctx: Context, args: argparse.Namespace) -> int:
    filters = filters_param(args.filter)
    nodes = ctx.client.get("/nodes", {"filters": filters} if filters else None)
    self_id = "" if args.quiet else _self_id(ctx)
    nodes.sort(key=lambda n: n.get("Description", {}).get("Hostname", ""))
    render_list(ctx.stdout, [node_row(n, self_id) for n in nodes], args.format,
                default=LS_FORMAT, titles=TITLES, quiet=args.quiet)
    return 0


def configure_node_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")
    p.add_argument("--pretty", action="store_true",
                   help="Print the information in a human friendly format")
    p.add_argument("nodes", metavar="NODE", nargs="+")


def do_node_inspect(ctx: Context, args: argparse.Namespace) -> int:
    found, failures = [], []
    for ref in args.nodes:
        try:
            found.append(ctx.client.get(f"/nodes/{quote_name(_reference(ctx, ref))}"))
        except Exception as exc:  # reported as docker does, after the others
            from ..context import describe

            failures.append(describe(exc))
    if args.pretty:
        ctx.stdout.write("\n\n".join(pretty(n) for n in found) + ("\n" if found else ""))
    else:
        render_inspect(ctx.stdout, args.format, found)
    if failures:
        raise CLIError("\n".join(failures))
    return 0


def pretty(node: dict[str, Any]) -> str:
    """``node inspect --pretty``: docker's text layout."""
    from .stats import bytes_size

    desc = node.get("Description", {})
    lines = [f"ID:\t\t\t{node['ID']}"]
    if node["Spec"].get("Name"):
        lines.append(f"Name:\t\t\t{node['Spec']['Name']}")
    labels = node["Spec"].get("Labels") or {}
    if labels:
        lines.append("Labels:")
        lines += [f" - {k} = {v}" for k, v in sorted(labels.items())]
    lines += [f"Hostname:              \t{desc.get('Hostname', '')}",
              f"Joined at:             \t{_pretty_time(node['CreatedAt'])}",
              "Status:", f" State:\t\t\t{node['Status']['State'].title()}",
              f" Availability:         \t{node['Spec']['Availability'].title()}"]
    if node["Status"].get("Addr"):
        lines.append(f" Address:\t\t{node['Status']['Addr']}")
    manager = node.get("ManagerStatus")
    if manager:
        lines += ["Manager Status:", f" Address:\t\t{manager.get('Addr', '')}",
                  f" Raft Status:\t\t{str(manager.get('Reachability', '')).title()}",
                  f" Leader:\t\t{'Yes' if manager.get('Leader') else 'No'}"]
    platform, resources = desc.get("Platform", {}), desc.get("Resources", {})
    lines += ["Platform:", f" Operating System:\t{platform.get('OS', '')}",
              f" Architecture:\t\t{platform.get('Architecture', '')}",
              "Resources:", f" CPUs:\t\t\t{resources.get('NanoCPUs', 0) // 1_000_000_000}",
              f" Memory:\t\t{bytes_size(resources.get('MemoryBytes', 0))}"]
    plugins: dict[str, list[str]] = {}
    for plugin in desc.get("Engine", {}).get("Plugins") or []:
        plugins.setdefault(plugin["Type"], []).append(plugin["Name"])
    if plugins:
        lines.append("Plugins:")
        lines += [f" {kind}:\t\t{', '.join(names)}" for kind, names in sorted(plugins.items())]
    lines.append(f"Engine Version:\t\t{desc.get('Engine', {}).get('EngineVersion', '')}")
    tls = desc.get("TLSInfo")
    if tls:
        lines += ["TLS Info:", " TrustRoot:", tls.get("TrustRoot", ""),
                  f" Issuer Subject:\t{tls.get('CertIssuerSubject', '')}",
                  f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey', '')}"]
    return "\n".join(lines)


def _pretty_time(stamp: str) -> str:
    """docker's ``PrettyPrint`` of a time: Go's ``Time.String`` in local time (nanoseconds,
    trailing zeros dropped), all but its first letter in lower case."""
    from datetime import UTC, datetime

    whole, _, rest = stamp.rstrip("Z").partition(".")
    fraction = rest.rstrip("0")
    local = datetime.fromisoformat(whole).replace(tzinfo=UTC).astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") \
        + local.strftime(" %z ") + (local.tzname() or "UTC")
    return text[0].upper() + text[1:].lower()


def configure_node_update(p: argparse.ArgumentParser) -> None:
    p.add_argument("--availability", metavar="string",
                   help='Availability of the node ("active", "pause", "drain")')
    p.add_argument("--label-add", metavar="list", action="append", default=[],
                   help="Add or update a node label (key=value)")
    p.add_argument("--label-rm", metavar="list", action="append", default=[],
                   help="Remove a node label if exists")
    p.add_argument("--role", metavar="string", help='Role of the node ("worker", "manager")')
    p.add_argument("node", metavar="NODE")


def _update(ctx: Context, ref: str, change: Any) -> None:
    node = ctx.client.get(f"/nodes/{quote_name(_reference(ctx, ref))}")
    spec = node["Spec"]
    change(spec)
    ctx.client.call("POST", f"/nodes/{node['ID']}/update",
                    params={"version": node["Version"]["Index"]}, body=spec)


def do_node_update(ctx: Context, args: argparse.Namespace) -> int:
    added = key_values(args.label_add, "--label-add", need_value=False)
    for value, flag, allowed in ((args.availability, "--availability",
                                  ("active", "pause", "drain")),
                                 (args.role, "--role", ("worker", "manager"))):
        if value is not None and value.lower() not in allowed:
            raise CLIError(f'invalid argument "{value}" for "{flag}" flag: invalid value', 125)

    def change(spec: dict[str, Any]) -> None:
        if args.availability:
            spec["Availability"] = args.availability.lower()
        if args.role:
            spec["Role"] = args.role.lower()
        labels = spec.setdefault("Labels", {}) or {}
        labels.update(added)
        for key in args.label_rm:
            labels.pop(key, None)
        spec["Labels"] = labels
    _update(ctx, args.node, change)
    ctx.stdout.write(args.node + "\n")
    return 0


def configure_node_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="Force remove a node from the swarm")
    p.add_argument("nodes", metavar="NODE", nargs="+")


def do_node_rm(ctx: Context, args: argparse.Namespace) -> int:
    params = {"force": True} if args.force else None

    def remove(ref: str) -> None:
        ctx.client.call("DELETE", f"/nodes/{quote_name(_reference(ctx, ref))}", params=params)
    return for_each(ctx, args.nodes, remove)


def configure_node_promote(p: argparse.ArgumentParser) -> None:
    p.add_argument("nodes", metavar="NODE", nargs="+")


def _set_role(ctx: Context, refs: list[str], role: str, done: str) -> int:
    def act(ref: str) -> str:
        _update(ctx, ref, lambda spec: spec.__setitem__("Role", role))
        return done.format(ref)
    return for_each(ctx, refs, act)


def do_node_promote(ctx: Context, args: argparse.Namespace) -> int:
    return _set_role(ctx, args.nodes, "manager", "Node {} promoted to a manager in the swarm.")


def configure_node_demote(p: argparse.ArgumentParser) -> None:
    p.add_argument("nodes", metavar="NODE", nargs="+")


def do_node_demote(ctx: Context, args: argparse.Namespace) -> int:
    return _set_role(ctx, args.nodes, "worker", "Manager {} demoted in the swarm.")
