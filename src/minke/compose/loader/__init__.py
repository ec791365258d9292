"""The Compose loader: files and environment in, the canonical project model out.

``load(ProjectOptions(...))`` runs the pipeline in ``project``; ``cache.load`` serves a
project loaded before while its inputs are unchanged; ``dump`` writes the model as
``docker compose config`` prints it (YAML or JSON). Names are imported on first use, so
that a cached load never imports the YAML parser or the schema validator.
"""

from __future__ import annotations

from .options import Loaded, ProjectOptions

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Loaded", "ProjectOptions", "dump", "load", "normalize_name"]


def __getattr__(name: str) -> Any:
    if name == "dump":
        from .output import dump

        return dump
    if name == "load":
        from .project import load

        return load
    if name == "normalize_name":
        from .finish import normalize_name

        return normalize_name
    raise AttributeError(name)
