"""argparse shaped like docker's cobra: ``--help`` only (``-h`` is ``--hostname`` for run),
usage lines as docker prints them, and flag errors reported with status 125."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .context import CLIError

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


class VerbParser(argparse.ArgumentParser):
    def __init__(self, prog: str, usage: str, summary: str) -> None:
        super().__init__(prog=prog, usage=f"{prog} {usage}", description=summary,
                         add_help=False, allow_abbrev=False)
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
