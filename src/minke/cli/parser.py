"""argparse shaped like docker's cobra: ``--help`` only (``-h`` is ``--hostname`` for run),
usage lines as docker prints them, and flag errors reported with status 125."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .context import CLIError

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal's width as shutil would find it: argparse
    makes one for every ``add_argument``, and its own way imports shutil, which with the
    compression modules it loads costs more than the rest of ``minke run``'s start-up."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class VerbParser(argparse.ArgumentParser):
    def __init__(self, prog: str, usage: str, summary: str) -> None:
        super().__init__(prog=prog, usage=f"{prog} {usage}", description=summary,
                         add_help=False, allow_abbrev=False, formatter_class=_Formatter)
        self.add_argument("--help", action="help", help="Print usage")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error(f"unknown flag: {unknown[0]}" if unknown[0].startswith("-")
                       else f"unexpected argument: {unknown[0]}")
        return parsed

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message}\nSee '{self.prog} --help'.", 125)
