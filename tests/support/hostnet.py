"""What of the host's networking a test session may change: a snapshot of its interfaces,
addresses, routes, nftables tables and minke's rules in other tables, and the difference
of two snapshots.

Minke daemons other than the session's own (another test session on the same machine)
come and go meanwhile; what belongs to one — a bridge it holds while it runs or marked as
its own, the veths on it, their addresses and routes, its firewall table — is left out of
both snapshots, so that the comparison sees only what this session's daemons (their data
roots are ``own_roots``) and tests left behind.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Collection
from dataclasses import dataclass, field

from minke.engine.network.firewall import COMMENT_PREFIX, Firewall
from minke.engine.network.ownership import host_lock, live_holders, mark, marked_root


def _json(*args: str) -> list[dict]:
    out = subprocess.run(list(args), capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


@dataclass
class HostNet:
    items: set[str] = field(default_factory=set)  # "kind what", one per thing on the host
    foreign: set[str] = field(default_factory=set)  # devices of live daemons not ours
    foreign_tables: set[str] = field(default_factory=set)
    masters: dict[str, str] = field(default_factory=dict)  # port → its bridge

    def visible(self, foreign: set[str], tables: set[str]) -> set[str]:
        def keep(item: str) -> bool:
            words = item.split()
            if words[0] == "table":
                return " ".join(words[1:]) not in tables
            return not any(w in foreign for w in words if w.startswith("dev="))

        return {i for i in self.items if keep(i)}


def snapshot(own_roots: Collection[str] = ()) -> HostNet:
    """Taken under minke's host-wide network lock, so that no daemon is half-way through
    making (and marking) a bridge meanwhile."""
    with host_lock():
        return _snapshot(own_roots)


def _snapshot(own_roots: Collection[str]) -> HostNet:
    links = _json("ip", "-j", "-d", "link", "show")
    own = {mark(root) for root in own_roots}
    others = {bridge for bridge, h in live_holders().items() if mark(h.data_root) not in own}
    foreign = {link["ifname"] for link in links
               if link["ifname"] in others or (marked_root(link.get("ifalias"))
                                               and link.get("ifalias") not in own)}
    foreign |= {link["ifname"] for link in links if link.get("master") in foreign}
    tables = {f"inet {Firewall(bridge).table}" for bridge in others | foreign}
    net = HostNet(foreign={f"dev={d}" for d in foreign}, foreign_tables=tables,
                  masters={link["ifname"]: link["master"] for link in links
                           if link.get("master")})
    for link in links:
        kind = (link.get("linkinfo") or {}).get("info_kind", "")
        net.items.add(f"link dev={link['ifname']} {kind}".strip())
    for link in _json("ip", "-j", "addr", "show"):
        for a in link.get("addr_info", []):
            if a.get("scope") != "link":  # link-local ones come and go with their device
                net.items.add(f"addr dev={link['ifname']} {a['local']}/{a['prefixlen']}")
    names = {link["ifname"] for link in links}
    for family in ("-4", "-6"):
        for r in _json("ip", family, "-j", "route", "show", "table", "all"):
            if r.get("dev") and r["dev"] not in names:
                continue  # a device made or moved to a namespace this instant ("if2657")
            net.items.add(f"route {r.get('table', 'main')} {r.get('type', 'unicast')} "
                          f"{r['dst']} dev={r.get('dev', '')}")
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                             check=True).stdout
    table = ""
    for line in ruleset.splitlines():
        line = line.strip()
        if line.startswith("table "):
            table = " ".join(line.split()[1:3])
            net.items.add(f"table {table}")
        elif f'comment "{COMMENT_PREFIX}' in line:
            bridge = line.split(f'comment "{COMMENT_PREFIX}', 1)[1].split('"', 1)[0]
            net.items.add(f"rule {table} {line.split(' comment ')[0]} dev={bridge}")
    return net


def difference(before: HostNet, after: HostNet) -> list[str]:
    """``+ item`` for what is new, ``- item`` for what is gone (sorted), leaving out what
    daemons of other sessions held at either time."""
    foreign = before.foreign | after.foreign
    # A port of a bridge that was there before the session (a daemon of another session
    # made before bridges were marked, Docker's docker0) is not the session's either.
    existing = {i.split()[1][len("dev="):] for i in before.items if i.startswith("link ")}
    foreign |= {f"dev={port}" for net in (before, after) for port, bridge in
                net.masters.items() if bridge in existing}
    tables = before.foreign_tables | after.foreign_tables
    old, new = before.visible(foreign, tables), after.visible(foreign, tables)
    return [f"+ {i}" for i in sorted(new - old)] + [f"- {i}" for i in sorted(old - new)]
