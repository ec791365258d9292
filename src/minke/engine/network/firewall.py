"""nftables: the one module that runs ``nft``.

Owns minke's packet filtering and NAT. Every rule of one daemon lives in one table of its
own, ``inet minke_<bridge>`` (the default bridge's name is unique among live daemons), and
the whole table is rewritten in one atomic ``nft -f`` transaction whenever its inputs change,
so that no half-written rule set is ever live and nothing is left when the table is
deleted. The first write of a process replaces the table; later ones flush every rule and
declare every chain, map and set again without deleting the table (``update_script``), so
that the kernel-filled affinity maps of source-hash services survive a change of backends.
The one exception is Docker's: a Docker on the same host (iptables-nft) sets the
policy of ``ip filter FORWARD`` to drop, which would drop minke's bridge traffic too, so an
accept rule per minke bridge is inserted there (tagged with a comment) and removed with it.

The table holds:
    forward      isolation between networks, --internal, enable_icc=false
    prerouting   DNAT of published ports for packets to a local address (outside, hairpin)
    output       the same for connections made on the host (127.0.0.1, the host's addresses)
    postrouting  egress masquerade, and masquerade of DNATed packets from 127.0.0.0/8 and
                 from a network back into itself (hairpin) so that replies return the same way;
                 on an overlay bridge of a multi-node swarm, every DNATed packet is
                 source-NATed to the node's load-balancer address there (``snat_to``)
    services     swarm VIPs (kube-proxy's shape): ``ip daddr <vip> jump svc_<id>``; published
                 ports of services (ingress mode) jump there from ``ports``. The service's
                 chain picks a slot (``numgen inc``, ``numgen random`` or ``jhash ip saddr``
                 ``mod M``) and DNATs to the address the slot holds in a data map
                 (``svca_<id>_<vip>``; ``svcp_<id>_<port>`` holds address . port). Slots per
                 backend are its weight: the load balancer (``minke.swarm.lb``) rewrites
                 the maps' elements in place (``set_weights``: one nf_tables transaction
                 over netlink, ``nftnetlink``; no rebuild), so counters, affinities and the
                 table's handle survive. Data maps, not verdict maps: an update then costs
                 the kernel no validation of the table's chain graph.
    lb_affinity  (source-hash with affinity) records each new connection's backend in the
                 service's ``aff_<id>`` map, which its chain consults first. The map outlives
                 rewrites of the table; records of a backend that left or was ejected are
                 deleted (``_drop_affinities``).
    lb_observe   (while a load balancer listens on an NFLOG group) logs the SYN-ACKs and the
                 resets of not-yet-established DNATed connections from service backends:
                 the circuit breaker's evidence of connect successes and failures.
The whole table is one transaction, so a backend joins or leaves atomically and established
connections keep their conntrack NAT.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from minke.engine.network.nftnetlink import ElementWriter, Replace
from minke.errors import InternalError, Unavailable

log = logging.getLogger(__name__)

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
    # An overlay network of a multi-node swarm: this node's load-balancer address on it,
    # the source of everything DNATed out through the bridge (VIP and routing-mesh traffic),
    # so that a backend on another node replies through this node.
    snat_to: str = ""


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
    the ready tasks on that network) and its ingress-published ports.

    When ``backend_ids`` is given, backend ``k`` is task ``backend_ids[k]``: its address is
    entry ``k`` of every VIP's tuple and of ``port_backends`` (all of the same length), and
    weights are looked up by that ID. ``pick`` chooses a slot: ``inc`` (round robin and the
    weighted strategies), ``random``, or ``hash`` (the client's address: the same slot on
    every node; with ``affinity`` seconds, a client also stays with the backend it reached
    while it keeps connecting, whatever the weights do)."""

    id: str
    vips: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (vip, backend addresses)
    ports: tuple[tuple[str, int, int], ...] = ()  # (proto, published port, target port)
    port_backends: tuple[str, ...] = ()  # task addresses the published ports reach
    backend_ids: tuple[str, ...] = ()
    pick: str = "inc"
    affinity: int = 0

    @property
    def chain(self) -> str:
        return "svc_" + self.id[:12]

    def vip_map(self, i: int) -> str:
        """Slot → backend address on the network of VIP ``i``."""
        return f"svca_{self.id[:12]}_{i}"

    def port_map(self, j: int) -> str:
        """Slot → backend address . target port for published port ``j``."""
        return f"svcp_{self.id[:12]}_{j}"

    @property
    def affinity_map(self) -> str:
        """(client, original address, original port) → the backend it went to."""
        return "aff_" + self.id[:12]

    def backends(self) -> tuple[str, ...]:
        """The backend IDs, in slot order (positions when none were given)."""
        if self.backend_ids:
            return self.backend_ids
        count = max([len(b) for _, b in self.vips] + [len(self.port_backends)] + [0])
        return tuple(str(k) for k in range(count))


# Slots of a weight map: at least MIN_SLOTS, a multiple of the number of backends, so that
# equal weights are exact and one slot is at most 1/64 of the traffic.
MIN_SLOTS = 64
HASH_SEED = 0x6D696E6B  # the same on every node, so a client hashes alike everywhere


def slot_count(backends: int) -> int:
    return backends * max(1, -(-MIN_SLOTS // backends)) if backends else 0


def slot_order(weights: tuple[float, ...], slots: int) -> list[int]:
    """The backend of each of ``slots`` slots: as many as its share of ``weights`` (largest
    remainder), interleaved by smooth weighted round robin so that ``numgen inc`` visits the
    backends evenly (nginx's algorithm). All weights 0 count as equal."""
    total = sum(w for w in weights if w > 0)
    if not weights or not slots:
        return []
    shares = [max(w, 0.0) / total for w in weights] if total > 0 else \
        [1 / len(weights)] * len(weights)
    exact = [share * slots for share in shares]
    counts = [int(x) for x in exact]
    for k in sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])[
            :slots - sum(counts)]:
        counts[k] += 1
    current = [0] * len(counts)
    order = []
    for _ in range(slots):
        for k, count in enumerate(counts):
            current[k] += count
        best = max(range(len(counts)), key=lambda i: current[i])
        current[best] -= slots
        order.append(best)
    return order


def _weights_of(svc: ServiceRules, weights: Mapping[str, float] | None) -> tuple[float, ...]:
    """Each backend's weight; one without a weight yet (new) gets the mean of the others."""
    given = weights or {}
    known = [float(given[b]) for b in svc.backends() if b in given]
    fallback = sum(known) / len(known) if known and sum(known) > 0 else 1.0
    return tuple(float(given.get(b, fallback)) for b in svc.backends())


def slot_backends(svc: ServiceRules, weights: Mapping[str, float] | None) -> list[int]:
    """The backend of each slot of the service's maps. By weight (``slot_order``), except
    for ``hash``: there slot ``j`` is backend ``j mod N`` and only the slots of a backend
    at weight 0 move (to the others in turn), so that clients of healthy backends keep
    theirs when another is ejected."""
    wanted = _weights_of(svc, weights)
    slots = slot_count(len(wanted))
    if svc.pick != "hash":
        return slot_order(wanted, slots)
    healthy = [k for k, w in enumerate(wanted) if w > 0] or list(range(len(wanted)))
    return [j % len(wanted) if wanted[j % len(wanted)] > 0 else healthy[j % len(healthy)]
            for j in range(slots)]


def map_elements(svc: ServiceRules, weights: Mapping[str, float] | None,
                 ) -> dict[str, list[tuple[int, str, int]]]:
    """Every map of the service: name → (slot, address, port or 0) for every slot."""
    order = slot_backends(svc, weights)
    out = {}
    for i, (_, addresses) in enumerate(svc.vips):
        if len(addresses) == len(svc.backends()):
            out[svc.vip_map(i)] = [(slot, addresses[k], 0) for slot, k in enumerate(order)]
    if len(svc.port_backends) == len(svc.backends()):
        for j, (_, _, target) in enumerate(svc.ports):
            out[svc.port_map(j)] = [(slot, svc.port_backends[k], target)
                                    for slot, k in enumerate(order)]
    return out


def _picker(svc: ServiceRules, slots: int) -> str:
    if svc.pick == "hash":
        return f"jhash ip saddr mod {slots} seed {HASH_SEED:#x}"
    return f"numgen {'random' if svc.pick == 'random' else 'inc'} mod {slots}"


def _service_chains(services: list[ServiceRules],
                    weights: Mapping[str, Mapping[str, float]] | None = None,
                    ) -> tuple[list[str], list[str], str]:
    """Jumps to the per-service chains (for ``services``), ingress port rules (for
    ``ports``) and the service chains with their maps."""
    jumps: list[str] = []
    ports: list[str] = []
    chains = ""
    for svc in services:
        for vip, _ in svc.vips:
            jumps.append(f"ip daddr {vip} jump {svc.chain}")
        for proto, published, _ in svc.ports:
            ports.append(f"meta nfproto ipv4 {proto} dport {published} jump {svc.chain}")
        if not svc.vips and not svc.ports:
            continue
        count = len(svc.backends())
        if not count:
            chains += f"  chain {svc.chain} {{\n    reject\n  }}\n"
            continue
        elements = map_elements(svc, (weights or {}).get(svc.id))
        body = []
        if svc.affinity:
            chains += (f"  map {svc.affinity_map} {{\n    type ipv4_addr . ipv4_addr . "
                       "inet_service : ipv4_addr . inet_service\n    flags dynamic,timeout\n"
                       f"    timeout {svc.affinity}s\n  }}\n")
            body += [f"meta l4proto {p} dnat ip to ip saddr . ip daddr . {p} dport map "
                     f"@{svc.affinity_map}" for p in ("tcp", "udp")]
        picker = _picker(svc, slot_count(count))
        for i, (vip, _) in enumerate(svc.vips):
            name = svc.vip_map(i)
            if name in elements:
                chains += _data_map(name, "ip daddr", elements[name])
                body.append(f"ip daddr {vip} dnat ip to {picker} map @{name}")
        for j, (proto, published, _) in enumerate(svc.ports):
            name = svc.port_map(j)
            if name in elements:
                chains += _data_map(name, f"ip daddr . {proto} dport", elements[name])
                body.append(f"{proto} dport {published} dnat ip to {picker} map @{name}")
        chains += (f"  chain {svc.chain} {{\n"
                   + "".join(f"    {rule}\n" for rule in body) + "  }\n")
    return jumps, ports, chains


def _data_map(name: str, data: str, elements: list[tuple[int, str, int]]) -> str:
    items = ", ".join(f"{slot} : {address}" + (f" . {port}" if port else "")
                      for slot, address, port in elements)
    return (f"  map {name} {{\n    typeof numgen inc mod 2 : {data}\n"
            f"    elements = {{ {items} }}\n  }}\n")


def _affinity(services: list[ServiceRules]) -> str:
    """Record, for services with affinity, which backend each new connection reached."""
    rules = []
    for svc in services:
        backends = sorted({a for _, addresses in svc.vips for a in addresses if a}
                          | {a for a in svc.port_backends if a})
        if svc.affinity and backends:
            for p in ("tcp", "udp"):
                rules.append(f"ct state new ct status dnat meta l4proto {p} ip daddr "
                             f"{{ {', '.join(backends)} }} update @{svc.affinity_map} "
                             "{ ip saddr . ct original ip daddr . ct original proto-dst : "
                             f"ip daddr . {p} dport }}")
    if not rules:
        return ""
    return ("  chain lb_affinity {\n" + "".join(f"    {r}\n" for r in rules) + "  }\n"
            + "".join(f"  chain lb_affinity_{hook} {{\n    type filter hook {hook} priority "
                      "filter + 1; policy accept;\n    jump lb_affinity\n  }\n"
                      for hook in ("forward", "output")))


def _observer(group: int, watched: list[str]) -> str:
    """``lb_observe``: NFLOG to ``group`` of connect outcomes from the ``watched`` backends
    (``s``: a SYN-ACK; ``f``: a reset before the connection was established)."""
    if not group or not watched:
        return ""
    first = "ct direction reply ct status & (dnat | assured) == dnat"
    return (f"  set lb_watch {{\n    type ipv4_addr\n"
            f"    elements = {{ {', '.join(sorted(set(watched)))} }}\n  }}\n"
            "  chain lb_observe {\n    ip saddr != @lb_watch return\n"
            f"    {first} tcp flags & (syn | ack | rst) == syn | ack log prefix \"s\" "
            f"group {group}\n"
            f"    {first} tcp flags rst log prefix \"f\" group {group}\n  }}\n"
            "  chain lb_input {\n    type filter hook input priority filter - 1; "
            "policy accept;\n    jump lb_observe\n  }\n"
            "  chain lb_forward {\n    type filter hook forward priority filter - 1; "
            "policy accept;\n    jump lb_observe\n  }\n")


def _value(address: str, port: int) -> bytes:
    """A map's data as nf_tables holds it: an IPv4 address, then a port in network order
    padded to 32 bits (each part of a concatenation takes whole registers)."""
    data = socket.inet_aton(address)
    return data + struct.pack(">H", port) + b"\0\0" if port else data


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def render(table: str, bridges: list[BridgeRules], ports: list[PortRule],
           services: list[ServiceRules] | None = None, *,
           weights: Mapping[str, Mapping[str, float]] | None = None,
           observe_group: int = 0) -> str:
    """The complete ``nft -f`` script that replaces ``table`` (pure, unit-tested).
    ``weights``: service ID → backend ID → weight (1 when absent); ``observe_group``: the
    NFLOG group of the load balancer watching the backends (0: none)."""
    return (f"table inet {table} {{}}\ndelete table inet {table}\n"
            + table_body(table, bridges, ports, services, weights=weights,
                         observe_group=observe_group))


def table_body(table: str, bridges: list[BridgeRules], ports: list[PortRule],
               services: list[ServiceRules] | None = None, *,
               weights: Mapping[str, Mapping[str, float]] | None = None,
               observe_group: int = 0) -> str:
    """``table inet <table> { ... }``: every chain, map and set of the table (``render``)."""
    vip_jumps, service_ports, service_chains = _service_chains(services or [], weights)
    service_chains += _affinity(services or [])
    service_chains += _observer(observe_group, [
        a for svc in services or [] for _, addresses in svc.vips for a in addresses if a])
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
        if b.snat_to:
            post.append(f"oifname {br} meta nfproto ipv4 ct status dnat snat ip to {b.snat_to}")
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


def objects(body: str) -> dict[str, tuple[str, str]]:
    """The chains, maps and sets a ``table_body`` declares: name → (kind, its block)."""
    out: dict[str, tuple[str, str]] = {}
    lines = body.splitlines(keepends=True)
    for i, line in enumerate(lines):
        words = line.split()
        if line.startswith("  ") and not line.startswith("   ") and len(words) == 3 and \
                words[0] in ("chain", "map", "set") and words[2] == "{":
            end = next(k for k in range(i + 1, len(lines)) if lines[k] == "  }\n")
            out[words[1]] = (words[0], "".join(lines[i:end + 1]))
    return out


def update_script(table: str, before: Mapping[str, tuple[str, str]], body: str,
                  ) -> tuple[str, set[str]]:
    """An ``nft -f`` script that turns ``table``, as ``before`` (``objects`` of the body
    last applied) left it, into ``body`` in one transaction without deleting the table:
    every rule flushed and every chain, map and set deleted and declared again — except
    the dynamic maps the kernel fills (``aff_<id>``: source-hash affinities) whose
    declaration is unchanged, which keep their elements. Also the names of those kept."""
    after = objects(body)
    kept = {name for name, (kind, block) in after.items()
            if kind == "map" and "flags dynamic" in block and before.get(name) == (kind, block)}
    for name in kept:
        body = body.replace(after[name][1], "", 1)
    order = sorted(before.items(), key=lambda item: item[1][0] != "chain")  # chains first
    deletes = "".join(f"delete {kind} inet {table} {name}\n"
                      for name, (kind, _) in order if name not in kept)
    return f"flush table inet {table}\n{deletes}{body}", kept


def _affinity_addresses(svc: ServiceRules, backends: set[str] | None = None) -> set[str]:
    """The addresses of the service's backends (only of those IDs in ``backends``)."""
    positions = [k for k, b in enumerate(svc.backends()) if backends is None or b in backends]
    lists = [addresses for _, addresses in svc.vips] + [svc.port_backends]
    return {a[k] for a in lists for k in positions if k < len(a) and a[k]}


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
        # The load balancer's current weights (service ID → backend ID → weight), kept here
        # so that a rebuild of the table renders them, and its NFLOG group (0: none).
        self.weights: dict[str, dict[str, float]] = {}
        self.observe_group = 0
        self._services: dict[str, ServiceRules] = {}  # as last applied
        # The objects of the body last applied by this process (None: the table may hold
        # anything, e.g. a previous daemon's: the next apply replaces it whole).
        self._objects: dict[str, tuple[str, str]] | None = None
        self._elements = ElementWriter()

    def apply(self, bridges: list[BridgeRules], ports: list[PortRule],
              services: list[ServiceRules] | None = None) -> None:
        """Make the table's rules these, atomically; with no bridges the table is deleted.

        After the first apply the table is not deleted but rewritten in place
        (``update_script``): its handle stays, and so do the source-hash affinity maps, so
        that a backend joining or leaving does not move the clients that have an affinity
        record (docs/load-balancing.md). Records that lead to a backend no longer in its
        service's set are then dropped."""
        if not bridges:
            self.delete()
            return
        services = services or []
        body = table_body(self.table, bridges, ports, services, weights=self.weights,
                          observe_group=self.observe_group)
        kept: set[str] = set()
        if self._objects is None:
            _nft("-f", "-", script=f"table inet {self.table} {{}}\n"
                                   f"delete table inet {self.table}\n{body}")
        else:
            script, kept = update_script(self.table, self._objects, body)
            try:
                _nft("-f", "-", script=script)
            except InternalError as exc:
                # The table is not what this process left (deleted or changed by hand):
                # replace it whole, as on the first apply.
                log.warning("rewriting table %s in place failed (%s): replacing it",
                            self.table, exc)
                kept = set()
                _nft("-f", "-", script=f"table inet {self.table} {{}}\n"
                                       f"delete table inet {self.table}\n{body}")
        before, self._services = self._services, {svc.id: svc for svc in services}
        self._objects = objects(body)
        for svc in services:
            old = before.get(svc.id)
            if svc.affinity_map in kept and old is not None:
                gone = _affinity_addresses(old) - _affinity_addresses(svc)
                if gone:
                    self._drop_affinities(svc.affinity_map, gone)

    def set_weights(self, changes: Mapping[str, Mapping[str, float]],
                    flush_affinity: Mapping[str, tuple[str, ...]] | None = None) -> bool:
        """Give services' backends new weights in place: the elements of their maps
        replaced in one nf_tables transaction sent over netlink (``nftnetlink``); no table
        rebuild, and no verdicts, so the kernel has no chain graph to validate. For a
        service in ``flush_affinity``, the affinity records that lead to the backends named
        there (ejected) are then forgotten; its other clients' records stay. Remembered for
        the next ``apply``. False when none of the services is in the table as last applied
        (nothing to do)."""
        updates: list[list[Replace]] = []
        forget: dict[str, set[str]] = {}  # affinity map → backend addresses to forget
        for service_id, weights in changes.items():
            self.weights[service_id] = dict(weights)
            svc = self._services.get(service_id)
            if svc is None or not svc.backends():
                continue
            group = [Replace(name, tuple((slot, _value(address, port))
                                         for slot, address, port in elements))
                     for name, elements in map_elements(svc, weights).items()]
            if svc.affinity and (flush_affinity or {}).get(service_id):
                forget[svc.affinity_map] = _affinity_addresses(
                    svc, set((flush_affinity or {})[service_id]))
            updates.append(group)
        if not updates:
            return False
        try:
            self._elements.replace(self.table, updates)
        except OSError as exc:
            raise InternalError(f"updating the weights in table {self.table}: {exc}") \
                from None
        # After the weights: from now on no slot leads to those backends, so no new
        # record can name them; the records of other backends' clients stay.
        for name, addresses in forget.items():
            self._drop_affinities(name, addresses)
        return True

    def _drop_affinities(self, name: str, addresses: set[str]) -> None:
        """Forget the records of affinity map ``name`` that lead to one of ``addresses``.
        Read, then deleted by key: a record may expire in between (the delete then fails
        with ENOENT), so it is read again a few times."""
        failure: Exception | None = None
        for _ in range(3):
            listing = _nft("-j", "list", "map", "inet", self.table, name, check=False)
            if not listing:
                return  # the map is gone
            keys = []
            for item in json.loads(listing).get("nftables", []):
                for element in (item.get("map") or {}).get("elem") or []:
                    key, value = element
                    key = key.get("elem", {}).get("val", key)
                    target = value.get("concat", [value])[0] if isinstance(value, dict) \
                        else value
                    if target in addresses and isinstance(key, dict):
                        keys.append(" . ".join(str(part) for part in key["concat"]))
            if not keys:
                return
            try:
                _nft("-f", "-", script=f"delete element inet {self.table} {name} "
                                       f"{{ {', '.join(keys)} }}\n")
                return
            except InternalError as exc:
                failure = exc
        log.error("forgetting the affinities to %s in %s: %s", ", ".join(sorted(addresses)),
                  name, failure)

    def forget_weights(self, keep: set[str]) -> None:
        """Drop the remembered weights of services not in ``keep``."""
        for service_id in [s for s in self.weights if s not in keep]:
            del self.weights[service_id]

    def delete(self) -> None:
        _nft("delete", "table", "inet", self.table, check=False)
        self._services, self._objects = {}, None

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
