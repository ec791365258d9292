"""What every ``minke compose`` command starts with: the project, an executor, a table."""

from __future__ import annotations

import argparse

from minke.cli.context import CLIError, Context

from ..executor import Executor
from ..model import Project

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any


def load_project(args: argparse.Namespace, services: list[str] | None = None) -> Project:
    from ..loader.cache import load
    from ..loader.options import ProjectOptions

    loaded = load(ProjectOptions(files=args.files, project_name=args.project_name,
                                 project_directory=args.project_directory,
                                 env_files=args.env_file, profiles=args.profile,
                                 services=services or []))
    return Project(loaded.name, loaded.model, loaded.working_dir, loaded.config_files,
                   loaded.env_files, loaded.disabled)


def executor(ctx: Context, project: Project) -> Executor:
    def printer(line: str) -> None:
        ctx.stderr.write(line + "\n")
        ctx.stderr.flush()

    return Executor(ctx.client.host, project, printer, ctx.client.version)


def project_for(ctx: Context, args: argparse.Namespace,
                services: list[str] | None = None) -> tuple[Project, Executor]:
    """The project (services named on the command line enabled) and an executor for it."""
    project = load_project(args, services)
    for name in services or []:
        if name not in project.services:
            raise CLIError(f"no such service: {name}", 1)
    return project, executor(ctx, project)


def table(ctx: Context, header: list[str], rows: list[list[Any]]) -> None:
    """Columns as docker's tabwriter lays them out: three spaces between."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        line = "   ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False))
        ctx.stdout.write(line.rstrip() + "\n")
