"""From parsed nodes to build stages: which instructions exist, which ``--flags`` each takes,
how FROM lines split the file into stages (``AS name``), the global ARGs before the first
FROM, and the checks dockerd's classic builder makes before it runs anything (unknown
instruction, unknown or malformed flag, wrong argument count, bad stage name, a stage that
refers to itself or a later stage). Every error names its line (``dockerfile parse error
line N: ...``). Variable expansion happens later, per step, in ``builder.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from minke.engine.build.parser import Dockerfile, Node, ParseError

# instruction → flags it takes (value flags; booleans listed in BOOL_FLAGS)
FLAGS: dict[str, set[str]] = {
    "ADD": {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"},
    "ARG": set(),
    "CMD": set(),
    "COPY": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "ENTRYPOINT": set(),
    "ENV": set(),
    "EXPOSE": set(),
    "FROM": {"platform"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
    "LABEL": set(),
    "MAINTAINER": set(),
    "ONBUILD": set(),
    "RUN": {"network", "mount", "security"},
    "SHELL": set(),
    "STOPSIGNAL": set(),
    "USER": set(),
    "VOLUME": set(),
    "WORKDIR": set(),
}
BOOL_FLAGS = {"link", "keep-git-dir", "parents"}
MULTI_FLAGS = {"mount", "exclude"}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


@dataclass
class Instruction:
    """One instruction with its flags checked: ``flags`` maps a name to its value (a list
    for repeatable flags, "true" for a bare boolean)."""

    cmd: str  # upper case: RUN, COPY...
    node: Node
    flags: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def line(self) -> int:
        return self.node.start_line

    @property
    def args(self) -> list[str]:
        return self.node.args

    @property
    def original(self) -> str:
        return self.node.original

    def flag(self, name: str, default: str = "") -> str:
        value = self.flags.get(name, default)
        return value if isinstance(value, str) else value[-1]

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.line)


@dataclass
class Stage:
    index: int
    base: str  # the FROM argument, unexpanded
    name: str  # the AS name, lowercased, or ""
    platform: str
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Plan:
    """The stages of a Dockerfile and the ARGs declared before the first FROM."""

    stages: list[Stage]
    global_args: list[Instruction]
    escape: str


def _parse_flags(cmd: str, node: Node) -> dict[str, str | list[str]]:
    allowed = FLAGS[cmd]
    out: dict[str, str | list[str]] = {}
    for raw in node.flags:
        if not raw.startswith("--"):
            raise ParseError(f"Unknown flag: {raw}", node.start_line)
        name, sep, value = raw[2:].partition("=")
        if name not in allowed:
            raise ParseError(f"Unknown flag: {name}", node.start_line)
        if not sep:
            if name not in BOOL_FLAGS:
                raise ParseError(f"Missing a value on flag: {name}", node.start_line)
            value = "true"
        elif name in BOOL_FLAGS and value.lower() not in ("true", "false"):
            raise ParseError(f"expecting boolean value for flag {name}, not: {value}",
                             node.start_line)
        if name in MULTI_FLAGS:
            existing = out.setdefault(name, [])
            assert isinstance(existing, list)
            existing.append(value)
        elif name in out:
            raise ParseError(f"Duplicate flag specified: {name}", node.start_line)
        else:
            out[name] = value
    return out


def to_instruction(node: Node) -> Instruction:
    """Check one node: a known instruction, known flags, a plausible argument count."""
    cmd = node.value.upper()
    if cmd not in FLAGS:
        raise ParseError(f"unknown instruction: {node.original.split()[0].upper()}",
                         node.start_line)
    inst = Instruction(cmd, node, _parse_flags(cmd, node))
    n = len(node.args)
    if cmd in ("ADD", "COPY"):
        if n + len(node.heredocs) < 2 and not (node.heredocs and n >= 1):
            raise inst.error(f"{cmd} requires at least two arguments, but only one was provided."
                             f" Destination could not be determined.")
    elif cmd == "FROM":
        if n not in (1, 3) or (n == 3 and node.args[1].lower() != "as"):
            raise inst.error("FROM requires either one or three arguments")
    elif cmd in ("ARG",):
        if n == 0:
            raise inst.error("ARG requires exactly one argument")
    elif cmd in ("WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"):
        if n != 1:
            raise inst.error(f"{cmd} requires exactly one argument")
    elif cmd in ("EXPOSE", "VOLUME", "ENV", "LABEL"):
        if n == 0:
            raise inst.error(f"{cmd} requires at least one argument")
    elif cmd == "SHELL":
        if not node.json:
            raise inst.error("SHELL requires the arguments to be in JSON form")
        if n == 0:
            raise inst.error("SHELL requires at least one argument")
    elif cmd == "ONBUILD":
        if node.sub is None:
            raise inst.error("ONBUILD requires at least one argument")
        trigger = node.sub.value.upper()
        if trigger == "ONBUILD":
            raise inst.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise inst.error(f"{trigger} isn't allowed as an ONBUILD trigger")
        to_instruction(node.sub)
    elif cmd == "RUN" and n == 0 and not node.heredocs:
        raise inst.error("RUN requires at least one argument")
    elif cmd == "HEALTHCHECK" and n:
        kind = node.args[0].upper()
        if kind not in ("CMD", "NONE"):
            raise inst.error(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
        if kind == "NONE" and (n > 1 or inst.flags):
            raise inst.error("HEALTHCHECK NONE takes no arguments")
        if kind == "CMD" and n < 2:
            raise inst.error("Missing command after HEALTHCHECK CMD")
    return inst


def plan(dockerfile: Dockerfile) -> Plan:
    """Split into stages and check every instruction (before anything runs)."""
    stages: list[Stage] = []
    global_args: list[Instruction] = []
    for node in dockerfile.nodes:
        inst = to_instruction(node)
        if inst.cmd == "FROM":
            name = node.args[2].lower() if len(node.args) == 3 else ""
            if name and not _STAGE_NAME.match(name):
                raise inst.error(
                    f"invalid name for build stage: {node.args[2]!r}, name can't start with a "
                    "number or contain symbols"
                )
            if name and any(s.name == name for s in stages):
                raise inst.error(f"duplicate name {name}")
            stages.append(Stage(len(stages), node.args[0], name, inst.flag("platform"), inst))
        elif not stages:
            if inst.cmd != "ARG":
                raise inst.error("no build stage in current context")
            global_args.append(inst)
        else:
            stages[-1].instructions.append(inst)
    if not stages:
        raise ParseError("no build stage in current context")
    _check_references(stages)
    return Plan(stages, global_args, dockerfile.escape)


def _check_references(stages: list[Stage]) -> None:
    """A stage may use only earlier stages: naming itself or a later stage in FROM or
    ``COPY --from`` is a cycle (buildkit's "circular dependency detected")."""
    names = {s.name: s.index for s in stages if s.name}
    for stage in stages:
        refs = [(stage.base.lower(), stage.from_instruction)]
        refs += [(i.flag("from").lower(), i) for i in stage.instructions if i.flag("from")]
        for ref, inst in refs:
            target = names.get(ref)
            if target is None and ref.isdigit():
                target = int(ref)
                if target >= len(stages):
                    continue
            if target is not None and target >= stage.index:
                raise inst.error(f"circular dependency detected on stage: {ref}")


def select(plan_: Plan, target: str) -> list[Stage]:
    """The stages to build: up to and including ``target`` (a name), or all."""
    if not target:
        return plan_.stages
    for stage in plan_.stages:
        if stage.name == target.lower():
            return plan_.stages[: stage.index + 1]
    raise ParseError(f"failed to reach build target {target} in Dockerfile")
