"""Acting on several names as docker does for ``rm a b c`` and ``inspect a b c``: act on
each in turn, collect each failure, report all failures at the end with status 1."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from minke import errors
from minke.client.transport import ConnectionFailed

from .context import CLIError, Context, describe
from .formatting import render_inspect

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def for_each(ctx: Context, names: Iterable[str], action: Callable[[str], str | None],
             *, echo: bool = True) -> int:
    """Run ``action`` per name; print what it returns (the name if None, nothing if "")
    unless ``echo`` is off; a failure does not stop the others."""
    failures: list[str] = []
    for name in names:
        try:
            result = action(name)
        except ConnectionFailed:
            raise  # no daemon: every other name would fail the same way
        except (errors.MinkeError, CLIError) as exc:
            failures.append(describe(exc))
            continue
        if echo and result != "":
            ctx.stdout.write(f"{name if result is None else result}\n")
            ctx.stdout.flush()
    if failures:
        raise CLIError("\n".join(failures))
    return 0


def inspect_each(ctx: Context, names: Iterable[str], fetch: Callable[[str], Any],
                 fmt: str | None) -> int:
    """docker's ``inspect a b c``: ``fetch`` each name (a missing one raises ``CLIError`` in
    docker's words), print every object found (JSON array or ``fmt``), then fail with the
    messages of those missing."""
    found: list[Any] = []
    failures: list[str] = []
    for name in names:
        try:
            found.append(fetch(name))
        except CLIError as exc:
            failures.append(exc.message)
    render_inspect(ctx.stdout, fmt, found)
    if failures:
        raise CLIError("\n".join(failures))
    return 0
