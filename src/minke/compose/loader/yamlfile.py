"""YAML 1.2 parsing of Compose files into plain Python values, with the line of each value.

ruamel.yaml reads YAML 1.2, so ``22:22`` stays a string and ``yes`` is not ``true`` (PyYAML's
YAML 1.1 gets both wrong). Anchors, aliases and ``<<`` merge keys are resolved by the parser;
the Compose merge tags ``!reset`` and ``!override`` become ``Reset``/``Override`` markers that
``merge`` interprets. Positions are kept in a separate ``{path: line}`` map so the values
stay plain dicts, lists and scalars.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import ComposeFileError
from .markers import Override, Reset

__all__ = ["Document", "Override", "Reset", "parse"]

Path = tuple[str | int, ...]


@dataclass
class Document:
    """One parsed file: its plain value and the line (1-based) of every node."""

    file: str
    data: dict[str, Any]
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def parse(text: str, file: str) -> Document:
    """Parse one Compose file; syntax errors name the file and line."""
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ComposeFileError(f"yaml: {problem}", file=file, line=line) from exc
    except YAMLError as exc:
        raise ComposeFileError(f"yaml: {exc}", file=file) from exc
    doc = Document(file, {})
    if raw is None:
        return doc
    value = _plain(raw, (), doc.lines, 1)
    if not isinstance(value, dict):
        raise ComposeFileError("Top-level object must be a mapping", file=file, line=1)
    doc.data = value
    return doc


def _plain(node: Any, path: Path, lines: dict[Path, int], line: int) -> Any:
    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(node, TaggedScalar):
        tag = node.tag.value
        value: Any = None if node.value in ("null", "~", "") else node.value
        return _tagged(tag, value, path)
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, item in node.items():
            child = (*path, str(key))
            try:
                child_line = node.lc.key(key)[0] + 1
            except (KeyError, TypeError):
                child_line = line  # a key brought in by a << merge: point at the mapping
            lines[child] = child_line
            out[str(key) if not isinstance(key, bool | int | float) else _key(key)] = \
                _plain(item, child, lines, child_line)
        return _tagged(tag, out, path)
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            try:
                child_line = node.lc.item(i)[0] + 1
            except (KeyError, TypeError, IndexError):
                child_line = line
            lines[(*path, i)] = child_line
            items.append(_plain(item, (*path, i), lines, child_line))
        return _tagged(tag, items, path)
    if isinstance(node, datetime.date | datetime.datetime):
        # YAML 1.2's core schema has no timestamps; Compose (Go yaml.v3) keeps the text.
        return node.isoformat()
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar string subclasses
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _key(key: bool | int | float) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _tagged(tag: str | None, value: Any, path: Path) -> Any:
    if tag is None or not tag.startswith("!") or tag.startswith("!!"):
        return value
    if tag == "!reset":
        return Reset()
    if tag == "!override":
        return Override(value)
    return value  # other local tags carry no meaning for Compose
