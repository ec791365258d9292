"""What a load is asked for (``ProjectOptions``) and what it gives (``Loaded``).

Kept apart from the loader itself so that the project cache can use them without importing
the YAML parser or the schema validator.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

# Plain classes: dataclasses imports inspect, milliseconds on every command's start.


class ProjectOptions:
    """What ``docker compose`` takes from its global flags."""

    def __init__(self, files: list[str] | None = None, project_name: str | None = None,
                 project_directory: str | None = None, env_files: list[str] | None = None,
                 profiles: list[str] | None = None, services: list[str] | None = None,
                 environ: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        self.files = files or []
        self.project_name = project_name
        self.project_directory = project_directory
        self.env_files = env_files or []
        self.profiles = profiles or []
        self.services = services or []  # named on the command line
        self.environ = dict(os.environ) if environ is None else environ
        self.cwd = os.getcwd() if cwd is None else cwd


class Loaded:
    """The canonical model and what was used to make it."""

    def __init__(self, model: dict[str, Any], name: str, working_dir: str,
                 config_files: list[str], environment: dict[str, str], env_files: list[str],
                 disabled: dict[str, dict[str, Any]]) -> None:
        self.model = model
        self.name = name
        self.working_dir = working_dir
        self.config_files = config_files
        self.environment = environment
        self.env_files = env_files
        self.disabled = disabled
