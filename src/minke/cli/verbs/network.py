"""``minke network create|ls|inspect|connect|disconnect|rm|prune`` and ``minke port``, with
docker's flags, tables and texts."""

from __future__ import annotations

import argparse

from minke.client import quote_name

from ..batch import for_each, inspect_each
from ..context import CLIError, Context
from ..filters import add_filter_option, add_prune_options, filters_param, key_values
from ..formatting import Row, render_list

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LS_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
TITLES = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
          "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}
PRUNE_WARNING = "This will remove all custom networks not used by at least one container."


def configure_network_create(p: argparse.ArgumentParser) -> None:
    multi: dict[str, Any] = {"action": "append", "default": []}
    p.add_argument("-d", "--driver", metavar="string", default="bridge",
                   help='Driver to manage the Network (default "bridge")')
    p.add_argument("--internal", action="store_true", help="Restrict external access")
    p.add_argument("--attachable", action="store_true", help="Enable manual attachment")
    p.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    p.add_argument("--subnet", metavar="strings", **multi, help="Subnet in CIDR format")
    p.add_argument("--gateway", metavar="strings", **multi, help="Gateway for the subnet")
    p.add_argument("--ip-range", metavar="strings", **multi,
                   help="Allocate container ip from a sub-range")
    p.add_argument("--aux-address", metavar="map", **multi,
                   help="Auxiliary IPv4 or IPv6 addresses used by Network driver")
    p.add_argument("--ipam-driver", metavar="string", default="default", help="IPAM driver")
    p.add_argument("--ipam-opt", metavar="map", **multi, help="Set IPAM driver options")
    p.add_argument("-o", "--opt", metavar="map", **multi, help="Set driver specific options")
    p.add_argument("--label", metavar="list", **multi, help="Set metadata on a network")
    p.add_argument("name", metavar="NETWORK")


def ipam_config(subnets: list[str], gateways: list[str], ranges: list[str],
                aux: list[str]) -> list[dict[str, Any]]:
    """docker's pairing of --gateway, --ip-range and --aux-address with their --subnet."""
    import ipaddress

    configs: list[dict[str, Any]] = [{"Subnet": s} for s in subnets]

    def owner(address: str, flag: str) -> dict[str, Any]:
        try:
            value = ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise CLIError(f"invalid {flag}: {address}", 125) from None
        for config in configs:
            net = ipaddress.ip_network(config["Subnet"], strict=False)
            if value.version == net.version and value.subnet_of(net):  # type: ignore[arg-type]
                return config
        raise CLIError(f"no matching subnet for {flag.lstrip('-')} {address}", 125)

    for gateway in gateways:
        config = owner(gateway, "gateway")
        if "Gateway" in config:
            raise CLIError(f"cannot configure multiple gateways ({gateway}, "
                           f"{config['Gateway']}) for the same subnet ({config['Subnet']})", 125)
        config["Gateway"] = gateway
    for ip_range in ranges:
        owner(ip_range, "range")["IPRange"] = ip_range
    for name, address in key_values(aux, "--aux-address").items():
        owner(address, "aux-address").setdefault("AuxiliaryAddresses", {})[name] = address
    return configs


def do_network_create(ctx: Context, args: argparse.Namespace) -> int:
    body = {
        "Name": args.name, "CheckDuplicate": True, "Driver": args.driver,
        "Internal": args.internal, "Attachable": args.attachable, "EnableIPv6": args.ipv6,
        "IPAM": {"Driver": args.ipam_driver, "Options": key_values(args.ipam_opt, "--ipam-opt"),
                 "Config": ipam_config(args.subnet, args.gateway, args.ip_range,
                                       args.aux_address)},
        "Options": key_values(args.opt, "--opt"), "Labels": key_values(args.label, "--label"),
    }
    reply = ctx.client.post("/networks/create", body=body)
    ctx.stdout.write(reply["Id"] + "\n")
    return 0


def configure_network_ls(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Pretty-print networks using a Go template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")


def network_row(network: dict[str, Any], trunc: bool) -> Row:
    labels = network.get("Labels") or {}
    fields = {
        "ID": network["Id"][:12] if trunc else network["Id"], "Name": network["Name"],
        "Driver": network["Driver"], "Scope": network.get("Scope", "local"),
        "IPv6": str(bool(network.get("EnableIPv6"))).lower(),
        "Internal": str(bool(network.get("Internal"))).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "CreatedAt": network.get("Created", ""),
    }
    return Row(fields, {"Label": lambda key: labels.get(key, "")})


def do_network_ls(ctx: Context, args: argparse.Namespace) -> int:
    filters = filters_param(args.filter)
    networks = ctx.client.get("/networks", {"filters": filters} if filters else None) or []
    rows = [network_row(n, not args.no_trunc) for n in sorted(networks, key=lambda n: n["Name"])]
    render_list(ctx.stdout, rows, "{{.ID}}" if args.quiet else args.format, default=LS_FORMAT,
                titles=TITLES)
    return 0


def configure_network_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    p.add_argument("networks", metavar="NETWORK", nargs="+")


def do_network_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from .inspect import find

    return inspect_each(ctx, args.networks, lambda name: find(ctx.client, name, "network", False),
                        args.format)


def configure_network_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alias", metavar="strings", action="append", default=[],
                   help="Add network-scoped alias for the container")
    p.add_argument("--ip", metavar="string", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--ip6", metavar="string", help="IPv6 address (e.g., 2001:db8::33)")
    p.add_argument("--link", metavar="list", action="append", default=[],
                   help="Add link to another container")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def do_network_connect(ctx: Context, args: argparse.Namespace) -> int:
    endpoint: dict[str, Any] = {"Aliases": args.alias or None, "Links": args.link or None}
    if args.ip or args.ip6:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip or "", "IPv6Address": args.ip6 or ""}
    ctx.client.post(f"/networks/{quote_name(args.network)}/connect",
                    body={"Container": args.container, "EndpointConfig": endpoint})
    return 0


def configure_network_disconnect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the container to disconnect from a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def do_network_disconnect(ctx: Context, args: argparse.Namespace) -> int:
    ctx.client.post(f"/networks/{quote_name(args.network)}/disconnect",
                    body={"Container": args.container, "Force": args.force})
    return 0


def configure_network_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="Do not error if the network does not exist")
    p.add_argument("networks", metavar="NETWORK", nargs="+")


def do_network_rm(ctx: Context, args: argparse.Namespace) -> int:
    from minke import errors

    def remove(name: str) -> None:
        try:
            ctx.client.call("DELETE", f"/networks/{quote_name(name)}")
        except errors.NotFound:
            if not args.force:
                raise
    return for_each(ctx, args.networks, remove)


def configure_network_prune(p: argparse.ArgumentParser) -> None:
    add_prune_options(p, "until=<timestamp>")


def do_network_prune(ctx: Context, args: argparse.Namespace) -> int:
    if not args.force and not ctx.confirm(PRUNE_WARNING):
        return 0
    filters = filters_param(args.filter)
    report = ctx.client.post("/networks/prune", {"filters": filters} if filters else None) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))
    return 0


def configure_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("port", metavar="PRIVATE_PORT[/PROTO]", nargs="?")


def do_port(ctx: Context, args: argparse.Namespace) -> int:
    record = ctx.client.get(f"/containers/{quote_name(args.container)}/json")
    ports: dict[str, Any] = (record.get("NetworkSettings") or {}).get("Ports") or {}
    if args.port:
        port, _, proto = args.port.partition("/")
        key = f"{port}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if not bindings:
            raise CLIError(f"Error: No public port '{key}' published for {args.container}")
        for b in bindings:
            ctx.stdout.write(f"{b['HostIp']}:{b['HostPort']}\n")
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            ctx.stdout.write(f"{key} -> {b['HostIp']}:{b['HostPort']}\n")
    return 0
