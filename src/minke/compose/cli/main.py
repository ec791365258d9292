"""``minke compose [OPTIONS] COMMAND``: global flags, project loading, dispatch.

The flags are ``docker compose``'s (``-f``, ``-p``, ``--project-directory``, ``--profile``,
``--env-file``); ``COMPOSE_FILE``, ``COMPOSE_PROJECT_NAME`` and ``COMPOSE_PROFILES`` are read
from the environment and ``.env`` by the loader. Errors print as Compose prints them and
exit 1 (15 for a bad flag, like Compose's cobra usage errors).
"""

from __future__ import annotations

import argparse
import sys

from minke import errors
from minke.cli.context import CLIError, Context
from minke.cli.parser import _Formatter

from ..errors import ComposeFileError, ComposeRunError
from . import commands

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # minke's formatter: argparse's own imports shutil (and the compression modules)
        # for every add_argument
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        raise CLIError(f"{message}\nSee '{self.prog} --help'.", 1)


_VALUED = {"-f", "--file", "-p", "--project-name", "--project-directory", "--profile",
           "--env-file", "--ansi", "--progress", "--parallel"}


def command_in(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names (after the global flags), if any."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in commands.COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, that sub-command alone is declared (the others cost
    milliseconds of start-up for nothing)."""
    parser = _Parser(prog="minke compose", description="Define and run multi-container "
                     "applications with minke", allow_abbrev=False)
    parser.add_argument("-f", "--file", action="append", default=[], dest="files",
                        metavar="stringArray", help="Compose configuration files")
    parser.add_argument("-p", "--project-name", metavar="string", help="Project name")
    parser.add_argument("--project-directory", metavar="string",
                        help="Specify an alternate working directory")
    parser.add_argument("--profile", action="append", default=[], metavar="stringArray",
                        help="Specify a profile to enable")
    parser.add_argument("--env-file", action="append", default=[], metavar="stringArray",
                        help="Specify an alternate environment file")
    parser.add_argument("--ansi", default="auto", choices=("never", "always", "auto"))
    parser.add_argument("--progress", default="auto")
    parser.add_argument("--parallel", type=int, default=-1)
    subs = parser.add_subparsers(dest="compose_command", metavar="COMMAND", parser_class=_Parser)
    for name, (summary, configure, _) in commands.COMMANDS.items():
        if only is not None and name != only:
            continue  # each sub-parser costs gettext look-ups; --help lists them all
        sub = subs.add_parser(name, help=summary, description=summary, allow_abbrev=False)
        configure(sub)
    return parser


def main(ctx: Context, argv: list[str]) -> int:
    parser = build_parser(command_in(argv))
    args = parser.parse_args(argv)
    if not args.compose_command:
        parser.print_help(ctx.stdout)
        return 0
    try:
        return int(commands.COMMANDS[args.compose_command][2](ctx, args) or 0)
    except ComposeFileError as exc:
        ctx.err(str(exc))
        return 1
    except ComposeRunError as exc:
        ctx.err(str(exc))
        return 1
    except errors.MinkeError as exc:
        ctx.err(f"Error response from daemon: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(Context(), sys.argv[1:]))
