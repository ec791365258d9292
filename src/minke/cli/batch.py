"""Acting on several names as docker does for ``rm a b c``: act on each in turn, print each
success, collect each failure, report all failures at the end with status 1."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from minke import errors
from minke.client.transport import ConnectionFailed

from .context import CLIError, Context, describe


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
