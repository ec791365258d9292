"""A Go ``text/template`` subset, enough for docker's ``--format`` strings.

Owns parsing and executing templates such as ``{{.ID}}``, ``{{json .Config}}``,
``{{index .Config.Labels "k"}}``, ``{{range .Mounts}}{{.Source}} {{end}}``,
``{{if .State.Running}}up{{else}}down{{end}}``, ``{{join .Args ","}}``, pipes
(``{{.Name | upper}}``), variables (``{{range $k, $v := .Labels}}``) and ``{{- -}}`` trimming,
with docker's extra functions (json, join, split, upper, lower, title, pad, truncate).
Values print as Go's ``%v`` would (``<no value>``, ``map[k:v]``, ``[a b]``). What to render
(tables, headers) is ``formatting``'s business.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class TemplateError(ValueError):
    """A template that does not parse or fails to execute; a local error, not the daemon's."""


class _Missing:
    """Go's "<no value>": a map key that is not there (distinct from a JSON null)."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()

# --- lexing ----------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<decl>:=|=)
    | (?P<punct>[|(),])
    | (?P<var>\$[A-Za-z0-9_]*)
    | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X | re.S,
)
_CHAIN = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _tokens(src: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"template: unexpected {src[pos:]!r} in command")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        # A field chain right after ")" or a variable continues that operand: (x).A, $v.A
        chain = _CHAIN.match(src, pos)
        if chain and kind in ("var", "punct") and (kind == "var" or m.group(kind) == ")"):
            out.append(("chain", chain.group()))
            pos = chain.end()
    return out


# --- syntax tree -----------------------------------------------------------------------------


# Plain classes, not dataclasses: importing dataclasses costs the CLI ~10 ms of start-up.
class _Operand:
    __slots__ = ("kind", "value", "chain")

    def __init__(self, kind: str, value: Any, chain: list[str] | None = None) -> None:
        self.kind = kind  # field, var, ident, literal, pipe
        self.value = value
        self.chain = chain or []


class _Pipeline:
    __slots__ = ("decl", "commands")

    def __init__(self, decl: list[str], commands: list[list[_Operand]]) -> None:
        self.decl = decl
        self.commands = commands


class _Block:
    __slots__ = ("keyword", "pipe", "body", "orelse")

    def __init__(self, keyword: str, pipe: _Pipeline, body: list[Any],
                 orelse: list[Any]) -> None:
        self.keyword = keyword  # if, range, with
        self.pipe = pipe
        self.body = body
        self.orelse = orelse


def _parse_pipeline(tokens: list[tuple[str, str]], pos: int = 0) -> tuple[_Pipeline, int]:
    decl: list[str] = []
    # "$x :=" or "$k, $v :=" declares variables for the pipeline's value
    look = tokens[pos : pos + 4]
    if len(look) >= 2 and look[0][0] == "var" and look[1][0] == "decl":
        decl, pos = [look[0][1]], pos + 2
    elif len(look) >= 4 and look[0][0] == "var" and look[1] == ("punct", ",") \
            and look[2][0] == "var" and look[3][0] == "decl":
        decl, pos = [look[0][1], look[2][1]], pos + 4
    commands: list[list[_Operand]] = [[]]
    while pos < len(tokens):
        kind, text = tokens[pos]
        pos += 1
        if kind == "punct" and text == "|":
            if not commands[-1]:
                raise TemplateError("template: missing command before |")
            commands.append([])
            continue
        if kind == "punct" and text == ")":
            return _Pipeline(decl, commands), pos - 1
        if kind == "punct" and text == "(":
            inner, pos = _parse_pipeline(tokens, pos)
            if pos >= len(tokens) or tokens[pos] != ("punct", ")"):
                raise TemplateError("template: unclosed left paren")
            pos += 1
            operand = _Operand("pipe", inner)
            if pos < len(tokens) and tokens[pos][0] == "chain":
                operand.chain = tokens[pos][1].split(".")[1:]
                pos += 1
            commands[-1].append(operand)
            continue
        commands[-1].append(_operand(kind, text, tokens, pos))
        if kind == "var" and pos < len(tokens) and tokens[pos][0] == "chain":
            pos += 1
    if not commands[-1]:
        raise TemplateError("template: missing value for command")
    return _Pipeline(decl, commands), pos


def _operand(kind: str, text: str, tokens: list[tuple[str, str]], pos: int) -> _Operand:
    if kind == "str":
        value = text[1:-1] if text[0] == "`" else json.loads(text)
        return _Operand("literal", value)
    if kind == "num":
        return _Operand("literal", float(text) if "." in text else int(text))
    if kind == "field":
        return _Operand("field", None, [] if text == "." else text.split(".")[1:])
    if kind == "var":
        chain = tokens[pos][1].split(".")[1:] if pos < len(tokens) and \
            tokens[pos][0] == "chain" else []
        return _Operand("var", text, chain)
    if kind == "ident":
        if text in ("true", "false"):
            return _Operand("literal", text == "true")
        if text == "nil":
            return _Operand("literal", None)
        return _Operand("ident", text)
    raise TemplateError(f"template: unexpected {text!r} in operand")


def _parse(src: str) -> list[Any]:
    """Text pieces and actions into a tree of str, _Pipeline and _Block nodes."""
    root: list[Any] = []
    stack: list[tuple[_Block | None, list[Any]]] = [(None, root)]
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(src):
        text = src[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        if text:
            stack[-1][1].append(text)
        trim_next = bool(m.group(3))
        pos = m.end()
        body = m.group(2).strip()
        if body.startswith("/*"):
            continue  # a comment
        tokens = _tokens(body)
        if not tokens:
            raise TemplateError("template: missing value for command")
        head = tokens[0]
        if head == ("ident", "end"):
            block = stack.pop()[0] if len(stack) > 1 else None
            if block is None:
                raise TemplateError("template: unexpected {{end}}")
            continue
        if head == ("ident", "else"):
            block = stack[-1][0]
            if block is None:
                raise TemplateError("template: unexpected {{else}}")
            stack.pop()
            if len(tokens) > 1 and tokens[1] == ("ident", "if"):
                # {{else if x}} is an if nested in the else branch, closed by the same {{end}}
                pipe, _ = _parse_pipeline(tokens, 2)
                nested = _Block("if", pipe, [], [])
                block.orelse.append(nested)
                stack.append((nested, nested.body))
                continue
            stack.append((block, block.orelse))
            continue
        if head[0] == "ident" and head[1] in ("if", "range", "with"):
            pipe, _ = _parse_pipeline(tokens, 1)
            block = _Block(head[1], pipe, [], [])
            stack[-1][1].append(block)
            stack.append((block, block.body))
            continue
        pipe, end = _parse_pipeline(tokens)
        if end != len(tokens):
            raise TemplateError("template: unexpected \")\" in command")
        stack[-1][1].append(pipe)
    if len(stack) > 1:
        raise TemplateError("template: unexpected EOF")
    tail = src[pos:]
    if "{{" in tail:
        raise TemplateError("template: unclosed action")
    if trim_next:
        tail = tail.lstrip()
    if tail:
        root.append(tail)
    return root


# --- values ----------------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """Go's notion of true: not the zero value of its type."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool | int | float | str | Sequence | Mapping):
        return bool(value)
    return True


def go_str(value: Any) -> str:
    """``fmt.Sprint(value)`` for the values JSON decoding produces."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def to_json(value: Any) -> str:
    """docker's ``json`` function: compact, keys sorted (Go maps), no HTML escaping."""
    if value is MISSING:
        value = None
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(key, MISSING) if item is not None else MISSING
        elif isinstance(item, list | tuple | str):
            try:
                item = item[int(key)]
            except (IndexError, ValueError) as exc:
                raise TemplateError(f"error calling index: index out of range: {key}") from exc
        elif item is None or item is MISSING:
            return MISSING
        else:
            raise TemplateError(f"error calling index: cannot index {type(item).__name__}")
    return item


def _printf(fmt: str, *args: Any) -> str:
    # Go verbs onto Python's: %v and %s print like Sprint, %q quotes, %d and %f as in C.
    it = iter(args)

    def verb(m: re.Match[str]) -> str:
        spec, conv = m.group(1), m.group(2)
        if conv == "%":
            return "%"
        value = next(it, MISSING)
        if conv in "vs":
            return f"%{spec}s" % go_str(value)
        if conv == "q":
            return json.dumps(go_str(value))
        if conv in "dx":
            return f"%{spec}{conv}" % int(value)
        return f"%{spec}{conv}" % value

    return re.sub(r"%([-+ 0#]*\d*(?:\.\d+)?)([vsqdxfgte%])", verb, fmt)


def _cmp(name: str, op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return op(a, b)
        except TypeError as exc:
            raise TemplateError(f"error calling {name}: incompatible types") from exc

    return compare


def _truncate(value: Any, n: int) -> str:
    text = go_str(value)
    return text[:n]


def _pad(value: Any, prefix: int, suffix: int) -> str:
    return " " * prefix + go_str(value) + " " * suffix


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(),
    "pad": _pad,
    "truncate": _truncate,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "printf": _printf,
    "len": lambda v: len(v) if v not in (None, MISSING) else 0,
    "index": _index,
    "not": lambda v: not truthy(v),
    # Go's and/or return an operand, not a bool: the first that decides, else the last.
    "and": lambda *a: next((v for v in a if not truthy(v)), a[-1]),
    "or": lambda *a: next((v for v in a if truthy(v)), a[-1]),
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "lt": _cmp("lt", lambda a, b: a < b),
    "le": _cmp("le", lambda a, b: a <= b),
    "gt": _cmp("gt", lambda a, b: a > b),
    "ge": _cmp("ge", lambda a, b: a >= b),
}


# --- execution -------------------------------------------------------------------------------


class Template:
    """A parsed template; ``render(data)`` executes it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._tree = _parse(source)

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._run(self._tree, data, [{"$": data}], out)
        return "".join(out)

    def _run(self, nodes: list[Any], dot: Any, scopes: list[dict[str, Any]],
             out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, _Pipeline):
                value = self._pipeline(node, dot, scopes)
                if not node.decl:
                    out.append(go_str(value))
            else:
                self._block(node, dot, scopes, out)

    def _block(self, block: _Block, dot: Any, scopes: list[dict[str, Any]],
               out: list[str]) -> None:
        inner = [*scopes, {}]
        if block.keyword == "range":
            items = self._eval_pipe(block.pipe, dot, inner)
            if isinstance(items, Mapping):
                pairs = [(k, items[k]) for k in sorted(items)]
            elif isinstance(items, list | tuple):
                pairs = list(enumerate(items))
            elif isinstance(items, int) and not isinstance(items, bool):
                pairs = [(i, i) for i in range(items)]
            elif items is None or items is MISSING:
                pairs = []
            else:
                raise TemplateError(f"range can't iterate over {go_str(items)}")
            if not pairs:
                self._run(block.orelse, dot, inner, out)
            for key, item in pairs:
                if len(block.pipe.decl) == 2:
                    inner[-1][block.pipe.decl[0]], inner[-1][block.pipe.decl[1]] = key, item
                elif block.pipe.decl:
                    inner[-1][block.pipe.decl[0]] = item
                self._run(block.body, item, inner, out)
            return
        value = self._pipeline(block.pipe, dot, inner)
        if truthy(value):
            self._run(block.body, value if block.keyword == "with" else dot, inner, out)
        else:
            self._run(block.orelse, dot, inner, out)

    def _pipeline(self, pipe: _Pipeline, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        value = self._eval_pipe(pipe, dot, scopes)
        if pipe.decl:
            scopes[-1][pipe.decl[0]] = value
        return value

    def _eval_pipe(self, pipe: _Pipeline, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        value: Any = MISSING
        for i, command in enumerate(pipe.commands):
            value = self._command(command, dot, scopes, value if i else MISSING, i > 0)
        return value

    def _command(self, command: list[_Operand], dot: Any, scopes: list[dict[str, Any]],
                 piped: Any, has_piped: bool) -> Any:
        head = command[0]
        args = [self._operand(op, dot, scopes) for op in command[1:]]
        if has_piped:
            args.append(piped)
        if head.kind == "ident":
            func = FUNCTIONS.get(head.value)
            if func is None:
                raise TemplateError(f'template: function "{head.value}" not defined')
            try:
                return func(*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, AttributeError) as exc:
                raise TemplateError(f"error calling {head.value}: {exc}") from exc
        value = self._operand(head, dot, scopes)
        if callable(value):
            return value(*args)  # a method of a row object, e.g. {{.Label "k"}}
        if args:
            raise TemplateError(f"can't give argument to non-function {go_str(value)}")
        return value

    def _operand(self, op: _Operand, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        if op.kind == "literal":
            return op.value
        if op.kind == "ident":
            func = FUNCTIONS.get(op.value)
            if func is None:
                raise TemplateError(f'template: function "{op.value}" not defined')
            return func()
        if op.kind == "field":
            base = dot
        elif op.kind == "var":
            for scope in reversed(scopes):
                if op.value in scope:
                    base = scope[op.value]
                    break
            else:
                raise TemplateError(f"template: undefined variable: {op.value}")
        else:
            base = self._eval_pipe(op.value, dot, scopes)
        return _fields(base, op.chain)


def _fields(value: Any, chain: list[str]) -> Any:
    for name in chain:
        if value is MISSING or value is None:
            return MISSING
        if isinstance(value, Mapping):
            value = value.get(name, MISSING)
        else:
            attr = getattr(value, name, MISSING)
            if attr is MISSING:
                raise TemplateError(
                    f"template: can't evaluate field {name} in type {type(value).__name__}")

            value = attr
    return value


def render(source: str, data: Any) -> str:
    """Parse and execute ``source`` once."""
    return Template(source).render(data)
