"""``.env`` and ``env_file`` parsing, as compose-go's ``dotenv`` package reads them.

``KEY=value`` or ``KEY: value``, an optional ``export`` prefix, ``#`` comments (inline only
after whitespace in unquoted values), single quotes taken literally, double quotes with
escapes (``\\n``, ``\\t``, ``\\"``, ``\\\\``, octal ``\\0NNN``...; unknown escapes kept as
written) and spanning lines. Unquoted and double-quoted values expand ``${VAR}`` from the
variables defined earlier in the file, then the given lookup.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from ..errors import ComposeFileError
from . import inputs
from .interpolation import TemplateError, substitute

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "$": "$"}
_EXPORT = re.compile(r"export[ \t]+")
_OCTAL = re.compile(r"0([0-7]{1,3})")


def parse(text: str, lookup: Callable[[str], str | None] | None = None,
          file: str = ".env") -> dict[str, str]:
    """The variables of one env file, in order."""
    result: dict[str, str] = {}
    pos, n, lineno = 0, len(text), 1

    def resolve(name: str) -> str | None:
        if name in result:
            return result[name]
        return lookup(name) if lookup else None

    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        line = text[pos:end].lstrip(" \t\r")
        start_line = lineno
        if not line or line.startswith("#"):
            pos, lineno = end + 1, lineno + 1
            continue
        match = _EXPORT.match(line)
        if match:
            line = line[match.end():]
        offset = pos + (len(text[pos:end]) - len(text[pos:end].lstrip(" \t\r"))) + \
            (match.end() if match else 0)
        sep = _separator(line)
        if sep < 0:
            # A bare KEY: takes its value from the environment, when there is one.
            key = line.strip()
            value = lookup(key) if lookup else None
            if value is not None:
                result[key] = value
            pos, lineno = end + 1, lineno + 1
            continue
        key = line[:sep].strip()
        if re.search(r"\s", key):
            raise ComposeFileError(f"unexpected character in variable name {key!r}",
                                   file=file, line=start_line)
        vstart = offset + sep + 1
        while vstart < n and text[vstart] in " \t":
            vstart += 1
        quote = text[vstart] if vstart < n else ""
        if quote in ("'", '"'):
            close = _closing_quote(text, vstart + 1, quote)
            if close < 0:
                raise ComposeFileError(f"unterminated quoted value for {key}",
                                       file=file, line=start_line)
            raw = text[vstart + 1:close]
            if quote == '"':
                value = _expand(_unescape(raw), resolve, file, start_line)
            else:
                value = raw
            line_end = text.find("\n", close)
            line_end = n if line_end < 0 else line_end
            lineno += text.count("\n", pos, line_end)
            pos = line_end + 1
        else:
            raw = text[vstart:end]
            comment = re.search(r"[ \t]#", raw)
            if comment:
                raw = raw[:comment.start()]
            elif raw.startswith("#"):
                raw = ""
            value = _expand(raw.rstrip(" \t\r"), resolve, file, start_line)
            pos = end + 1
        lineno += 1
        result[key] = value
    return result


def _separator(line: str) -> int:
    eq, colon = line.find("="), line.find(":")
    candidates = [i for i in (eq, colon) if i >= 0]
    if not candidates:
        return -1
    first = min(candidates)
    # "KEY: value" needs the space after the colon; "A=1:B" keeps its colon in the value.
    if first == colon and (colon + 1 < len(line) and line[colon + 1] not in " \t"):
        return eq
    return first


def _closing_quote(text: str, start: int, quote: str) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\" or i + 1 >= len(raw):
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1]
        octal = _OCTAL.match(raw, i + 1)
        if octal:
            out.append(chr(int(octal.group(1), 8)))
            i = octal.end()
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt] if nxt != "$" else "\\$")
            i += 2
        else:
            out.append(raw[i:i + 2])  # unknown escapes (\x07, \u12e4, "\ ") stay as written
            i += 2
    return "".join(out)


def _expand(value: str, resolve: Callable[[str], str | None], file: str, line: int) -> str:
    if "$" not in value:
        return value
    # "\$" protects a dollar sign from expansion; "$$" is not special in env files.
    protected = value.replace("\\$", "\0").replace("$$", "\1")
    try:
        expanded = substitute(protected, resolve)
    except TemplateError as exc:
        raise ComposeFileError(str(exc), file=file, line=line) from exc
    return expanded.replace("\0", "$").replace("\1", "$$")


def read(path: str | os.PathLike[str], lookup: Callable[[str], str | None] | None = None
         ) -> dict[str, str]:
    """Parse the env file at ``path``; a missing file names itself."""
    try:
        text = inputs.read_text(str(path))
    except FileNotFoundError as exc:
        raise ComposeFileError(f"env file {path} not found") from exc
    except OSError as exc:
        raise ComposeFileError(f"cannot read env file {path}: {exc.strerror}") from exc
    return parse(text, lookup, str(path))
