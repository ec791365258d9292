"""Lists printed as docker prints them: tables, ``--format`` templates, ``-q``.

Owns Go's ``text/tabwriter`` layout as docker configures it (minimum width 10, padding 3),
the ``table``/``json`` shorthands, header rows (the template executed against the column
titles, as docker's formatter does) and ``render_list``, the one "list then table or
format" path every listing verb (ps, images, history, events) goes through; and
``render_inspect``, the one "JSON array or ``--format``" output of the inspect verbs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from .template import MISSING, Template

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

MIN_WIDTH = 10
PADDING = 3


def tabwrite(lines: Iterable[str], minwidth: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Align tab-separated cells like Go's tabwriter (flags 0, pad with spaces).

    A cell is text terminated by a tab; the last text of a line is not a cell and is never
    padded. A column's width is set per block of consecutive lines that have that cell.
    """
    rows = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[] for _ in rows]
    _layout(rows, 0, 0, len(rows), widths, minwidth, padding)
    out = []
    for cells, row_widths in zip(rows, widths, strict=True):
        padded = [cell.ljust(w) for cell, w in zip(cells[:-1], row_widths, strict=True)]
        out.append("".join(padded) + cells[-1])
    return "".join(line + "\n" for line in out)


def _layout(rows: list[list[str]], col: int, lo: int, hi: int, widths: list[list[int]],
            minwidth: int, padding: int) -> None:
    i = lo
    while i < hi:
        if col >= len(rows[i]) - 1:
            i += 1
            continue
        j, width = i, minwidth
        while j < hi and col < len(rows[j]) - 1:
            width = max(width, len(rows[j][col]) + padding)
            j += 1
        for k in range(i, j):
            widths[k].append(width)
        _layout(rows, col + 1, i, j, widths, minwidth, padding)
        i = j


class Row(Mapping[str, object]):
    """One listed object: display fields, plus methods templates may call (``.Label "k"``).

    ``{{json .}}`` and ``{{.}}`` see only the fields, as docker's ``MarshalJSON`` does.
    """

    def __init__(self, fields: dict[str, Any],
                 methods: dict[str, Callable[..., Any]] | None = None) -> None:
        self.fields = fields
        self.methods = methods or {}

    def __getitem__(self, key: str) -> Any:
        if key in self.fields:
            return self.fields[key]
        return self.methods[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def to_json(self) -> dict[str, Any]:
        return self.fields


class _Headers(Mapping[str, object]):
    """The header context: each field renders as its column title."""

    def __init__(self, titles: Mapping[str, str]) -> None:
        self._titles = titles

    def __getitem__(self, key: str) -> Any:
        if key not in self._titles:
            raise KeyError(key)
        return self._titles[key]

    def get(self, key: str, default: Any = MISSING) -> Any:
        title = self._titles.get(key)
        if title is None:
            return key.upper()
        if title.endswith("()"):  # a method column: {{.Label "x"}} → LABEL
            return lambda *args: title[:-2]
        return title

    def __iter__(self) -> Iterator[str]:
        return iter(self._titles)

    def __len__(self) -> int:
        return len(self._titles)


def expand_format(fmt: str | None, default: str) -> str:
    """docker's shorthands: "" or "table" → the default table, "json" → ``{{json .}}``."""
    if not fmt or fmt == "table":
        return default
    if fmt == "json":
        return "{{json .}}"
    return fmt


def render_list(
    out: IO[str],

    rows: Iterable[Mapping[str, Any]],
    fmt: str | None,
    *,
    default: str,
    titles: Mapping[str, str],
    quiet: bool = False,
) -> None:
    """Print ``rows`` with ``fmt`` (a template, "table ...", "json" or nothing)."""
    source = "{{.ID}}" if quiet else expand_format(fmt, default)
    table = source.startswith("table")
    if table:
        source = source[len("table"):].lstrip()
    source = source.replace("\\t", "\t").replace("\\n", "\n")
    template = Template(source)
    rendered = [template.render(row) for row in rows]
    if not table:
        out.write("".join(line + "\n" for line in rendered))
        return
    header = template.render(_Headers(titles))
    out.write(tabwrite([header, *rendered]))


def render_each(out: IO[str], fmt: str, items: Iterable[Any]) -> None:
    """A ``--format`` applied to each of several objects (inspect, version, info)."""
    template = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
    for item in items:
        out.write(template.render(item) + "\n")


def render_inspect(out: IO[str], fmt: str | None, items: list[Any]) -> None:
    """What ``inspect`` verbs print: ``fmt`` applied to each object, else one JSON array."""
    if fmt:
        render_each(out, fmt, items)
        return
    import json  # only inspect output needs it: kept off the CLI's start-up path

    # docker indents with four spaces and keeps the daemon's key order
    out.write(json.dumps(items, indent=4, ensure_ascii=False) + "\n")
