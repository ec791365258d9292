"""Variable interpolation in Compose files, as compose-go's ``template`` package does it.

``$VAR`` and ``${VAR}``; ``${VAR:-default}`` / ``${VAR-default}`` (unset or empty / unset);
``${VAR:?err}`` / ``${VAR?err}`` (fail with ``err``); ``${VAR:+alt}`` / ``${VAR+alt}`` (``alt``
when set and non-empty / set); defaults nest (``${A:-${B:-x}}``) and are expanded only when
used; ``$$`` is a literal ``$``; a ``$`` not followed by a name or ``{`` stays as it is.
Only values are interpolated, never keys. Knows nothing of files: ``interpolate`` takes a
lookup function and reports the path of a failing value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import ComposeFileError
from .markers import Override

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

Lookup = Callable[[str], str | None]

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class TemplateError(ValueError):
    """A template that cannot be expanded: malformed, or a required variable is missing."""


def substitute(template: str, lookup: Lookup) -> str:
    """Expand ``template`` with ``lookup`` (``None`` means unset)."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(template, i + 2)
            if end < 0:
                raise TemplateError(f'Invalid template: "{template}"')
            out.append(_braced(template[i + 2:end], template, lookup))
            i = end + 1
        else:
            match = _NAME.match(template, i + 1)
            if match is None:
                out.append("$")  # "a $ string", "$}": not a variable
                i += 1
            else:
                out.append(lookup(match.group()) or "")
                i = match.end()
    return "".join(out)


def _closing_brace(template: str, start: int) -> int:
    # Defaults may hold braces of their own (${X:-{"json":1}} or ${X:-${Y}}): count them.
    depth = 1
    for j in range(start, len(template)):
        if template[j] == "{":
            depth += 1
        elif template[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _braced(body: str, template: str, lookup: Lookup) -> str:
    match = _NAME.match(body)
    if match is None:
        raise TemplateError(f'Invalid template: "{template}"')
    name, rest = match.group(), body[match.end():]
    value = lookup(name)
    if not rest:
        return value or ""
    op = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if op is None:
        raise TemplateError(f'Invalid template: "{template}"')
    arg = rest[len(op):]
    unset = value is None
    empty = unset or value == ""
    if op == ":-":
        return substitute(arg, lookup) if empty else value or ""
    if op == "-":
        return substitute(arg, lookup) if unset else value or ""
    if op in (":?", "?"):
        if (op == ":?" and empty) or (op == "?" and unset):
            message = substitute(arg, lookup)
            suffix = f": {message}" if message else ""
            raise TemplateError(f"required variable {name} is missing a value{suffix}")
        return value or ""
    if op == ":+":
        return "" if empty else substitute(arg, lookup)
    return "" if unset else substitute(arg, lookup)  # "+"


def interpolate(value: Any, lookup: Lookup, *, path: tuple[str | int, ...] = (),
                where: Callable[[tuple[str | int, ...]], tuple[str | None, int | None]]
                | None = None) -> Any:
    """Expand every string value under ``value``; errors name the path (and file/line)."""
    if isinstance(value, str):
        try:
            return substitute(value, lookup)
        except TemplateError as exc:
            file, line = where(path) if where else (None, None)
            dotted = ".".join(str(p) for p in path)
            if str(exc).startswith("Invalid template"):
                message = (f"invalid interpolation format for {dotted}: {exc}. "
                           "You may need to escape any $ with another $")
            else:
                message = f"error while interpolating {dotted}: {exc}"
            raise ComposeFileError(message, file=file, line=line) from exc
    if isinstance(value, dict):
        return {k: interpolate(v, lookup, path=(*path, k), where=where) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, lookup, path=(*path, i), where=where) for i, v in enumerate(value)]
    if isinstance(value, Override):
        return Override(interpolate(value.value, lookup, path=path, where=where))
    return value
