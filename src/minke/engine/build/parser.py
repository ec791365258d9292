"""The Dockerfile parser: text → a list of instruction nodes with their line numbers.

Owns the syntax only, as buildkit's ``frontend/dockerfile/parser`` defines it: parser
directives at the top (``# escape=``, ``# syntax=``, ``# check=``), line continuations with
the escape token (a doubled escape token is not one), comment and empty lines inside
continuations, the argument shape of each instruction (JSON exec form or shell form,
``KEY=value`` pairs and the legacy ``KEY value``, whitespace-separated lists, ONBUILD's
sub-instruction), ``--flags`` before the arguments, and heredocs (``RUN <<EOF``,
``COPY <<EOF dest``). Meaning (which flags exist, variable expansion, what a step does)
belongs to ``instructions.py``; unknown instructions parse here and fail there, as in
buildkit. ``Node.dump`` writes buildkit's s-expression form, which its test files use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from minke.errors import InvalidParameter

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_COMMENT = re.compile(r"^#.*$")
_HEREDOC = re.compile(r"(\d*)<<(-?)(?:\"([^\"\s]+)\"|'([^'\s]+)'|([A-Za-z0-9_.]+))")
KNOWN_DIRECTIVES = ("escape", "syntax", "check")
HEREDOC_COMMANDS = ("add", "copy", "run")


@dataclass
class Heredoc:
    """``<<[-]NAME``: the lines up to ``NAME``; ``expand`` is False for a quoted name,
    ``chomp`` (``<<-``) strips leading tabs from the lines and the terminator."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass
class Node:
    """One instruction: ``value`` is the lowercased keyword; ``args`` the parsed words (for
    ``onbuild``, ``sub`` holds the sub-instruction instead); ``json`` marks the exec form."""

    value: str
    original: str
    start_line: int
    end_line: int
    args: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    json: bool = False
    sub: Node | None = None
    heredocs: list[Heredoc] = field(default_factory=list)

    def dump(self) -> str:
        """buildkit's ``Node.Dump`` of this instruction (without the outer parentheses)."""
        out = self.value
        if self.flags:
            out += " [" + " ".join(go_quote(f) for f in self.flags) + "]"
        if self.sub is not None:
            out += f" ({self.sub.dump()})"
        for arg in self.args:
            out += " " + go_quote(arg)
        return out.strip()


@dataclass
class Dockerfile:
    nodes: list[Node]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class ParseError(InvalidParameter):
    """A syntax error, with the line it is on (dockerd 20.10's text,
    ``dockerfile parse error line N: ...``)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"dockerfile parse error line {line}: {message}" if line else message)


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.seen: dict[str, str] = {}
        self.done = False
        self._set_continuation()

    def _set_continuation(self) -> None:
        e = re.escape(self.escape)
        # A doubled escape token escapes itself and is not a continuation.
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def feed(self, line: str, number: int) -> bool:
        """Take ``line`` as a directive if directives may still appear; True if it was."""
        if self.done:
            return False
        match = _DIRECTIVE.match(line)
        if match is None:
            self.done = True
            return False
        key, value = match.group(1).lower(), match.group(2)
        if key not in KNOWN_DIRECTIVES:
            return True  # unknown directives are comments, as in buildkit
        if key in self.seen:
            raise ParseError(f"only one {key} parser directive can be used", number)
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise ParseError(f"invalid escape token '{value}' does not match ` or \\", number)
            self.escape = value
            self._set_continuation()
        return True

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """(line without its continuation token, whether the logical line ends here)."""
        if self.continuation.search(line):
            return self.continuation.sub(r"\1", line), False
        return line, True


def _strip_newline(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def _is_comment(line: str) -> bool:
    return bool(_COMMENT.match(line.lstrip(" \t")))


def parse(text: str | bytes) -> Dockerfile:
    """Parse a whole Dockerfile; raises ``ParseError`` naming the line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0
    while i < len(lines):
        raw = _strip_newline(lines[i])
        i += 1
        start = i
        if _is_comment(raw):
            d.feed(raw.lstrip(" \t"), i)
            continue
        d.done = True
        line, ended = d.trim_continuation(raw.lstrip(" \t"))
        if ended and not line.strip():
            continue
        while not ended and i < len(lines):
            raw = _strip_newline(lines[i])
            i += 1
            if _is_comment(raw):
                continue
            if not raw.strip(" \t"):
                warnings.append(f"line {i}: empty continuation line")
                continue
            more, ended = d.trim_continuation(raw)
            line += more
        node = node_from_line(line, d.escape, start, i)
        if node.value in HEREDOC_COMMANDS and "<<" in line:
            for doc in _heredocs_in(line, node):
                body: list[str] = []
                while True:
                    if i >= len(lines):
                        raise ParseError("unterminated heredoc", start)
                    raw = _strip_newline(lines[i])
                    i += 1
                    candidate = raw.lstrip("\t") if doc.chomp else raw
                    if candidate == doc.name:
                        break
                    body.append(candidate + "\n")
                doc.content = "".join(body)
                node.heredocs.append(doc)
            node.end_line = i
        nodes.append(node)
    if not nodes:
        raise ParseError("file with no instructions")  # the caller names the file
    return Dockerfile(nodes, d.escape, dict(d.seen), warnings)


def _heredocs_in(line: str, node: Node) -> list[Heredoc]:
    """Heredoc markers among the words of the instruction (not inside quotes)."""
    out = []
    words = [node.original] if node.value == "run" else node.args
    for word in words:
        for match in _HEREDOC.finditer(word):
            if match.start() > 0 and node.value != "run" and match.group(1) == "":
                continue
            name = match.group(3) or match.group(4) or match.group(5)
            quoted = match.group(5) is None
            fd = int(match.group(1)) if match.group(1) else 0
            out.append(Heredoc(name, "", expand=not quoted, chomp=bool(match.group(2)), fd=fd))
    return out


def node_from_line(line: str, escape: str, start: int, end: int) -> Node:
    stripped = line.strip()
    parts = _WHITESPACE.split(stripped, maxsplit=1)
    cmd = parts[0].lower()
    rest, flags = "", []
    if len(parts) == 2:
        rest, flags = extract_flags(parts[1])
    rest = rest.strip()
    node = Node(cmd, stripped, start, end, flags=flags)
    try:
        _PARSERS.get(cmd, _parse_ignore)(node, rest, escape)
    except InvalidParameter as exc:
        raise ParseError(str(exc), start) from None
    return node


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name[=value]`` words (quotes and backslashes resolved, ``--`` ends them);
    returns (the rest of the line, the flags). As buildkit's ``extractBuilderFlags``."""
    words: list[str] = []
    word, quote, blank_ok = "", "", False
    phase = "spaces"
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if pos == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word += ch
            pos += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word += ch
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escape tokens in the words
    (buildkit's ``parseWords``; the expander removes them later)."""
    words: list[str] = []
    word, quote, blank_ok = "", "", False
    phase = "spaces"
    pos, n = 0, len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            word += ch
            pos += 1
            ch = rest[pos]
        word += ch
        pos += 1
    return words


class NotStringArray(InvalidParameter):
    def __init__(self) -> None:
        super().__init__("dockerfile instruction arguments must be a JSON array of strings")


def parse_json(rest: str) -> list[str] | None:
    """The exec form: a JSON array of strings, else None (then the shell form applies).
    An array holding anything but strings is an error, as in buildkit."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise NotStringArray()
    return value


def _parse_ignore(node: Node, rest: str, escape: str) -> None:
    node.args = [rest] if rest else []


def _parse_string(node: Node, rest: str, escape: str) -> None:
    node.args = [rest] if rest else []


def _parse_whitespace_list(node: Node, rest: str, escape: str) -> None:
    node.args = _WHITESPACE.split(rest) if rest else []


def _parse_maybe_json(node: Node, rest: str, escape: str) -> None:
    if not rest:
        return
    values = parse_json(rest)
    if values is not None:
        node.args, node.json = values, True
    else:
        node.args = [rest]


def _parse_maybe_json_list(node: Node, rest: str, escape: str) -> None:
    values = parse_json(rest)
    if values is not None:
        node.args, node.json = values, True
    else:
        _parse_whitespace_list(node, rest, escape)


def _parse_name_val(node: Node, rest: str, escape: str) -> None:
    key = node.value.upper()
    words = parse_words(rest, escape)
    if not words:
        if key == "ENV" or key == "LABEL":
            raise InvalidParameter(f"{key} requires at least one argument")
        return
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise InvalidParameter(f"{key} must have two arguments")
        node.args = [parts[0], parts[1], ""]
        return
    for word in words:
        if "=" not in word:
            raise InvalidParameter(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        name, _, value = word.partition("=")
        node.args += [name, value, "="]


def _parse_name_or_name_val(node: Node, rest: str, escape: str) -> None:
    node.args = parse_words(rest, escape)


def _parse_health(node: Node, rest: str, escape: str) -> None:
    match = re.match(r"(\S+)\s*", rest)
    if not rest or match is None:
        return
    sub = Node("", "", 0, 0)
    _parse_maybe_json(sub, rest[match.end():], escape)
    node.args = [match.group(1), *sub.args]
    node.json = sub.json


def _parse_sub(node: Node, rest: str, escape: str) -> None:
    if rest:
        node.sub = node_from_line(rest, escape, node.start_line, node.end_line)


_PARSERS = {
    "add": _parse_maybe_json_list,
    "arg": _parse_name_or_name_val,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_name_val,
    "expose": _parse_whitespace_list,
    "from": _parse_whitespace_list,
    "healthcheck": _parse_health,
    "label": _parse_name_val,
    "maintainer": _parse_string,
    "onbuild": _parse_sub,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_list,
    "workdir": _parse_string,
}
