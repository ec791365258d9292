"""nftables: the one module that runs ``nft``.

Owns minke's packet filtering and NAT. Every rule of one daemon lives in one table of its
own, ``inet minke_<bridge>`` (the default bridge's name is unique among live daemons), and
the whole table is replaced in one atomic ``nft -f`` transaction whenever its inputs change,
so that no half-written rule set is ever live and nothing is left when the table is
deleted. The one exception is Docker's: a Docker on the same host (iptables-nft) sets the
policy of ``ip filter FORWARD`` to drop, which would drop minke's bridge traffic too, so an
accept rule per minke bridge is inserted there (tagged with a comment) and removed with it.

The table holds:
    forward      isolation between networks, --internal, enable_icc=false
    prerouting   DNAT of published ports for packets to a local address (outside, hairpin)
    output       the same for connections made on the host (127.0.0.1, the host's addresses)
    postrouting  egress masquerade, and masquerade of DNATed packets from 127.0.0.0/8 and
                 from a network back into itself (hairpin) so that replies return the same way
    services     swarm VIPs (kube-proxy's shape): ``ip daddr <vip> jump svc_<id>``, where the
                 service's chain DNATs round robin (``numgen inc``) over its ready backends;
                 published ports of services (ingress mode) go the same way from ``ports``.
                 The whole table is one transaction, so a backend joins or leaves atomically
                 and established connections keep their conntrack NAT.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from minke.errors import InternalError, Unavailable

NFT = "nft"
COMMENT_PREFIX = "minke:"


@dataclass(frozen=True)
class BridgeRules:
    """What the firewall needs to know about one bridge network."""

    bridge: str
    subnets4: tuple[str, ...]
    subnets6: tuple[str, ...] = ()
    internal: bool = False
    masquerade: bool = True
    icc: bool = True


@dataclass(frozen=True)
class PortRule:
    """One published port: host_ip "" or "0.0.0.0" means every local address."""

    proto: str  # tcp | udp
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int


@dataclass(frozen=True)
class ServiceRules:
    """One swarm service's balancing: its VIPs (one per network, each with the addresses of
    the ready tasks on that network) and its ingress-published ports."""

    id: str
    vips: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (vip, backend addresses)
    ports: tuple[tuple[str, int, int], ...] = ()  # (proto, published port, target port)
    port_backends: tuple[str, ...] = ()  # task addresses the published ports reach

    @property
    def chain(self) -> str:
        return "svc_" + self.id[:12]


def _spread(backends: tuple[str, ...], port: int | None = None) -> str:
    """``dnat`` round robin over ``backends`` (to ``port`` when given); reject with none."""
    if not backends:
        return "reject"
    if len(backends) == 1:
        return f"dnat ip to {backends[0]}" + (f":{port}" if port else "")
    entries = ", ".join(f"{i} : {b}" + (f" . {port}" if port else "")
                        for i, b in enumerate(backends))
    return f"dnat ip to numgen inc mod {len(backends)} map {{ {entries} }}"


def _service_chains(services: list[ServiceRules]) -> tuple[list[str], list[str], str]:
    """Jumps to the per-service chains (for ``services``), ingress port rules (for
    ``ports``) and the service chains themselves."""
    jumps: list[str] = []
    ports: list[str] = []
    chains = ""
    for svc in services:
        body = []
        for vip, backends in svc.vips:
            jumps.append(f"ip daddr {vip} jump {svc.chain}")
            body.append(f"ip daddr {vip} {_spread(backends)}")
        if body:
            chains += (f"  chain {svc.chain} {{\n"
                       + "".join(f"    {rule}\n" for rule in body) + "  }\n")
        for proto, published, target in svc.ports:
            ports.append(f"meta nfproto ipv4 {proto} dport {published} "
                         f"{_spread(svc.port_backends, target)}")
    return jumps, ports, chains


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def render(table: str, bridges: list[BridgeRules], ports: list[PortRule],
           services: list[ServiceRules] | None = None) -> str:
    """The complete ``nft -f`` script that replaces ``table`` (pure, unit-tested)."""
    vip_jumps, service_ports, service_chains = _service_chains(services or [])
    fwd: list[str] = []
    names = [b.bridge for b in bridges]
    for b in bridges:
        others = [n for n in names if n != b.bridge]
        if others:
            # Isolation: nothing passes from one of our networks to another.
            fwd.append(f"iifname {_q(b.bridge)} oifname {{ {', '.join(map(_q, others))} }} drop")
        if b.internal:
            fwd.append(f"iifname {_q(b.bridge)} oifname != {_q(b.bridge)} drop")
            fwd.append(f"oifname {_q(b.bridge)} iifname != {_q(b.bridge)} drop")
        if not b.icc:
            fwd.append(f"iifname {_q(b.bridge)} oifname {_q(b.bridge)} drop")
    dnat: list[str] = []
    for p in ports:
        family = "ip6" if ":" in p.container_ip else "ip"
        match = ""
        if p.host_ip and p.host_ip not in ("0.0.0.0", "::"):
            match = f"{'ip6' if ':' in p.host_ip else 'ip'} daddr {p.host_ip} "
        elif family == "ip6":
            match = "meta nfproto ipv6 "
        else:
            match = "meta nfproto ipv4 "
        target = f"[{p.container_ip}]" if family == "ip6" else p.container_ip
        dnat.append(f"{match}{p.proto} dport {p.host_port} dnat {family} to "
                    f"{target}:{p.container_port}")
    dnat += service_ports
    post: list[str] = []
    for b in bridges:
        br = _q(b.bridge)
        post.append(f"oifname {br} ip saddr 127.0.0.0/8 ct status dnat masquerade")
        for subnet in b.subnets4:
            post.append(f"oifname {br} ip saddr {subnet} ct status dnat masquerade")
            if b.masquerade and not b.internal:
                post.append(f"ip saddr {subnet} oifname != {br} masquerade")
        for subnet in b.subnets6:
            post.append(f"oifname {br} ip6 saddr {subnet} ct status dnat masquerade")
            if b.masquerade and not b.internal:
                post.append(f"ip6 saddr {subnet} oifname != {br} masquerade")

    def chain(name: str, hook: str, body: list[str]) -> str:
        return (f"  chain {name} {{\n    {hook}\n"
                + "".join(f"    {rule}\n" for rule in body) + "  }\n")

    return (
        f"table inet {table} {{}}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        + chain("forward", "type filter hook forward priority filter; policy accept;", fwd)
        + chain("ports", "", dnat).replace("    \n", "")
        + service_chains
        + chain("services", "", vip_jumps).replace("    \n", "")
        + chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;",
                ["fib daddr type local jump ports", "jump services"])
        + chain("output", "type nat hook output priority -100; policy accept;",
                ["fib daddr type local jump ports", "jump services"])
        + chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;",
                post)
        + "}\n"
    )


def chains_naming(ruleset: str, bridge: str, own_table: str) -> list[str]:
    """``family table chain`` of every chain in ``ruleset`` (``nft list ruleset``) with a
    rule naming ``bridge``, leaving out ``own_table`` and our rules in Docker's chains."""
    found: list[str] = []
    table = chain = ""
    for raw in ruleset.splitlines():
        line = raw.strip()
        if line.startswith("table "):
            table, chain = " ".join(line.split()[1:3]), ""
        elif line.startswith("chain "):
            chain = line.split()[1]
        elif _q(bridge) in line and COMMENT_PREFIX not in line and \
                table != f"inet {own_table}":
            where = f"{table} {chain}".strip()
            if where not in found:
                found.append(where)
    return found


def _nft(*args: str, script: str | None = None, check: bool = True) -> str:
    try:
        proc = subprocess.run([NFT, *args], input=script, capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        raise Unavailable("nft not found in PATH: install it (apt-get install nftables)") \
            from None
    if check and proc.returncode != 0:
        raise InternalError(f"nft {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout if proc.returncode == 0 else ""


class Firewall:
    """The rules of one daemon, in table ``inet minke_<tag>``."""

    def __init__(self, tag: str) -> None:
        self.table = "minke_" + "".join(c if c.isalnum() or c == "_" else "_" for c in tag)

    def apply(self, bridges: list[BridgeRules], ports: list[PortRule],
              services: list[ServiceRules] | None = None) -> None:
        """Replace the table's rules atomically; with no bridges the table is deleted."""
        if not bridges:
            self.delete()
            return
        _nft("-f", "-", script=render(self.table, bridges, ports, services))

    def delete(self) -> None:
        _nft("delete", "table", "inet", self.table, check=False)

    def users_of(self, bridge: str) -> list[str]:
        """The chains of other programs (Docker's ``ip nat DOCKER``, ...) with rules naming
        ``bridge``: a sign that another daemon manages it."""
        return chains_naming(_nft("list", "ruleset", check=False), bridge, self.table)

    # -- Docker's FORWARD chain ------------------------------------------------------------

    @staticmethod
    def _docker_chains() -> list[str]:
        return [family for family in ("ip", "ip6")
                if _nft("list", "chain", family, "filter", "FORWARD", check=False)]

    def allow_in_docker_forward(self, bridge: str) -> None:
        """Accept our bridge's traffic in ``ip filter FORWARD`` where a Docker made it."""
        self.remove_from_docker_forward(bridge)
        for family in self._docker_chains():
            for direction in ("iifname", "oifname"):
                _nft("insert", "rule", family, "filter", "FORWARD", direction, _q(bridge),
                     "counter", "accept", "comment", _q(COMMENT_PREFIX + bridge))

    def remove_from_docker_forward(self, bridge: str) -> None:
        for family in self._docker_chains():
            listing = _nft("-a", "list", "chain", family, "filter", "FORWARD", check=False)
            for line in listing.splitlines():
                if f'comment "{COMMENT_PREFIX}{bridge}"' in line and "# handle" in line:
                    handle = line.rsplit("# handle", 1)[1].strip()
                    _nft("delete", "rule", family, "filter", "FORWARD", "handle", handle,
                         check=False)
