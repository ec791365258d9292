"""Placement constraints (SwarmKit's ``manager/constraint``): ``node.id==x``,
``node.hostname!=y``, ``node.role==manager``, ``node.platform.os``/``.arch``,
``node.labels.k==v`` and ``engine.labels.k==v``; parsed at service create/update (a bad one
is refused with SwarmKit's words) and matched against nodes by the scheduler."""

from __future__ import annotations

import re
from dataclasses import dataclass

from minke.swarm.store import Obj

_EXPR = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.*?)\s*$")
_VALUE = re.compile(r"^[\w.\-*/:]+$")  # SwarmKit's alphaNumeric value pattern, with globs


class ConstraintError(ValueError):
    pass


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def value_of(self, node: Obj) -> str | None:
        """The node's value of this constraint's key (None: a label it lacks)."""
        return _node_value(node, self.key)

    def match(self, node: Obj) -> bool:
        found = _node_value(node, self.key)
        if found is None:  # a label the node lacks matches only "!="
            return not self.equal
        hit = found.lower() == self.value.lower() if not self.key.startswith(
            ("node.labels.", "engine.labels.")) else found == self.value
        return hit == self.equal


def parse(expressions: list[str]) -> list[Constraint]:
    out = []
    for expression in expressions:
        m = _EXPR.match(expression)
        if not m or not m.group(3) or not _VALUE.match(m.group(3)):
            raise ConstraintError(f"constraint expression {expression!r} is invalid")
        key = m.group(1).lower() if not m.group(1).lower().startswith(
            ("node.labels.", "engine.labels.")) else m.group(1)
        if key not in ("node.id", "node.hostname", "node.role", "node.ip", "node.platform.os",
                       "node.platform.arch") and not re.match(
                           r"^(node|engine)\.labels\..+", key):
            raise ConstraintError(f"constraint expression {expression!r} is invalid: "
                                  f"unknown key {m.group(1)!r}")
        out.append(Constraint(key, m.group(2) == "==", m.group(3)))
    return out


def _node_value(node: Obj, key: str) -> str | None:
    desc = node.get("Description") or {}
    if key == "node.id":
        return node["ID"]
    if key == "node.hostname":
        return node["Spec"].get("Name") or desc.get("Hostname", "")
    if key == "node.role":
        return node["Spec"].get("Role", "")
    if key == "node.ip":
        return (node.get("Status") or {}).get("Addr", "")
    if key == "node.platform.os":
        return (desc.get("Platform") or {}).get("OS", "")
    if key == "node.platform.arch":
        return (desc.get("Platform") or {}).get("Architecture", "")
    if key.startswith("node.labels."):
        return (node["Spec"].get("Labels") or {}).get(key[len("node.labels."):])
    if key.startswith("engine.labels."):
        labels = (desc.get("Engine") or {}).get("Labels") or {}
        return labels.get(key[len("engine.labels."):])
    return None
