"""/etc/hostname, /etc/hosts and /etc/resolv.conf of a container, written as Docker writes
them and bind-mounted by the runtime spec."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
# Docker's fallback when the host's only nameservers are loopback ones, unreachable from
# a container's own network namespace.
FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]
_LOOPBACK = re.compile(r"^\s*nameserver\s+(127\.\d+\.\d+\.\d+|::1)\s*$")
# Containers on a user-defined network ask the embedded DNS server (engine/network/dns.py),
# which forwards the --dns servers (or the host's); Docker's address for it.
EMBEDDED_DNS = "127.0.0.11"
NO_EMBEDDED_DNS = ("bridge", "host", "none")

HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def resolv_conf_text(host_conf: str, host_config: dict[str, Any], *, host_network: bool,
                     embedded_dns: bool = False) -> str:
    """The host's resolv.conf with loopback nameservers removed (unless the container
    shares the host's network), or the ``--dns``/``--dns-search``/``--dns-option`` values.
    With ``embedded_dns`` the only nameserver is 127.0.0.11 with ``ndots:0``, as Docker's."""
    dns = host_config.get("Dns") or []
    search = host_config.get("DnsSearch") or []
    options = host_config.get("DnsOptions") or []
    lines = host_conf.splitlines()
    if embedded_dns:
        dns = [EMBEDDED_DNS]
        if not any(o.startswith("ndots:") for o in options):
            options = [*options, "ndots:0"]
    if not host_network:
        lines = [line for line in lines if not _LOOPBACK.match(line)]
    if dns:
        lines = [line for line in lines if not line.strip().startswith("nameserver")]
        lines += [f"nameserver {ns}" for ns in dns]
    if not any(line.strip().startswith("nameserver") for line in lines):
        lines += [f"nameserver {ns}" for ns in FALLBACK_NAMESERVERS]
    if search:
        lines = [line for line in lines if not line.strip().startswith(("search", "domain"))]
        lines.append("search " + " ".join(search))
    if options:
        lines = [line for line in lines if not line.strip().startswith("options")]
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def hosts_text(record: dict[str, Any]) -> str:
    text = HOSTS_HEADER
    for entry in record["HostConfig"].get("ExtraHosts") or []:
        name, _, address = entry.partition(":")
        text += f"{address}\t{name}\n"
    for network in (record["NetworkSettings"].get("Networks") or {}).values():
        if network.get("IPAddress"):
            config = record["Config"]
            names = config["Hostname"]
            if config.get("Domainname"):
                names = f"{config['Hostname']}.{config['Domainname']} {config['Hostname']}"
            text += f"{network['IPAddress']}\t{names}\n"
    return text


def write(record: dict[str, Any], *, hosts: Path, hostname: Path, resolv_conf: Path) -> None:
    host_network = record["HostConfig"].get("NetworkMode") == "host"
    hostname.write_text(record["Config"]["Hostname"] + "\n")
    if host_network:
        hosts.write_text(Path("/etc/hosts").read_text())
    else:
        hosts.write_text(hosts_text(record))
    try:
        host_conf = HOST_RESOLV_CONF.read_text()
    except OSError:
        host_conf = ""
    resolv_conf.write_text(
        resolv_conf_text(host_conf, record["HostConfig"], host_network=host_network,
                         embedded_dns=any(name not in NO_EMBEDDED_DNS for name in
                                          record["NetworkSettings"].get("Networks") or {}))
    )
