"""``key=value`` flags: ``--filter``, sent as docker's map-of-bools JSON
(``{"name":{"s1":true}}``), the prune verbs' ``--filter``, and maps such as ``--label``."""

from __future__ import annotations

import argparse

from .context import CLIError

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_filter_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filter", metavar="filter", action="append", default=[],
                   help="Filter output based on conditions provided")


def add_prune_options(p: argparse.ArgumentParser, example: str) -> None:
    """The flags every ``prune`` verb has; ``example`` is the filter its help shows."""
    p.add_argument("--filter", metavar="filter", action="append", default=[],
                   help=f'Provide filter values (e.g. "{example}")')
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def key_values(values: list[str], flag: str, *, need_value: bool = True) -> dict[str, str]:
    """``--label k=v``-style flags as a map; a bare ``k`` is ``k=""`` unless ``need_value``."""
    out = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not key or (need_value and not eq):
            raise CLIError(f'invalid argument "{item}" for "{flag}" flag: '
                           "valid format is key=value", 125)
        out[key] = value
    return out


def filters_param(values: list[str]) -> dict[str, dict[str, bool]] | None:
    out: dict[str, Any] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:
            raise CLIError(f"bad format of filter (expected name=value): {item}", 125)
        out.setdefault(key.strip().lower(), {})[value] = True
    return out or None
