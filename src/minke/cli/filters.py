"""``--filter key=value`` flags, sent as docker's map-of-bools JSON (``{"name":{"s1":true}}``)."""

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


def filters_param(values: list[str]) -> dict[str, dict[str, bool]] | None:
    out: dict[str, Any] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:
            raise CLIError(f"bad format of filter (expected name=value): {item}", 125)
        out.setdefault(key.strip().lower(), {})[value] = True
    return out or None
