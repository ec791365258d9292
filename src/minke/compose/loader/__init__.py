"""The Compose loader: files and environment in, the canonical project model out.

``load(ProjectOptions(...))`` runs the pipeline in ``project``; ``dump`` writes the model
as ``docker compose config`` prints it (YAML or JSON).
"""

from .output import dump
from .project import Loaded, ProjectOptions, load, normalize_name

__all__ = ["Loaded", "ProjectOptions", "dump", "load", "normalize_name"]
