"""Stage two of a load: project name, profiles and the canonical model.

``project.read`` does the costly part (YAML, interpolation, schema validation, merge) and
gives a ``Read``, which ``cache`` can keep; ``finish`` turns it into the canonical model
for this run's project name, profiles and environment. Nothing here imports the YAML
parser or the schema validator.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ..errors import ComposeFileError
from . import inputs, normalize
from .options import Loaded, ProjectOptions

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Read:
    """What stage one made: the merged model (before normalisation) and where it came from."""

    def __init__(self, model: dict[str, Any], working_dir: str, config_files: list[str],
                 env_files: list[str], env_values: dict[str, str],
                 origins: list[list[Any]]) -> None:
        self.model = model
        self.working_dir = working_dir
        self.config_files = config_files
        self.env_files = env_files
        self.env_values = env_values  # the env files' variables
        self.origins = origins  # [[path...], file, line]: where each value was written

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class Environment:
    """The interpolation environment: the env files' variables, under the process's.

    Looked up one variable at a time, so that a load depends only on the variables it
    uses (``inputs`` records them)."""

    def __init__(self, process: Mapping[str, str], files: dict[str, str] | None = None
                 ) -> None:
        self.process = process
        self.files = files or {}
        self.defaults: dict[str, str] = {}

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.process.get(key)
        if value is None:
            value = self.files.get(key, self.defaults.get(key))
        return default if value is None else value

    def as_dict(self) -> dict[str, str]:
        out = {**self.defaults, **self.files}
        for key in self.files:
            value = self.process.get(key)
            if value is not None:
                out[key] = value
        return out


def normalize_name(name: str) -> str:
    """A directory name as Compose turns it into a project name."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def finish(read: Read, opts: ProjectOptions) -> Loaded:
    """The canonical project from a ``Read`` (the model is not modified)."""
    import copy

    model = copy.deepcopy(read.model)
    env = Environment(inputs.TrackedEnviron(opts.environ), read.env_values)
    workdir, files = read.working_dir, read.config_files
    name = opts.project_name or env.get("COMPOSE_PROJECT_NAME") or model.get("name")
    if name:
        if not _PROJECT_NAME.match(name):
            raise ComposeFileError(
                f'invalid project name "{name}": must consist only of lowercase alphanumeric '
                "characters, hyphens, and underscores as well as start with a letter or number")
    else:
        name = normalize_name(os.path.basename(workdir))
        if not name:
            raise ComposeFileError(f"project name can't be derived from {workdir}; use -p")
    env.defaults["COMPOSE_PROJECT_NAME"] = name

    profiles = opts.profiles or [p for p in (env.get("COMPOSE_PROFILES") or "").split(",") if p]
    disabled = apply_profiles(model, profiles, opts.services)
    origins = {tuple(path): (file, line) for path, file, line in read.origins}

    def where(path: tuple[str | int, ...]) -> tuple[str | None, int | None]:
        while path:
            if path in origins:
                return origins[path]
            path = path[:-1]
        return (files[0], None)

    canonical = normalize.project(model, name, env.get, where)
    return Loaded(canonical, name, workdir, files, env.as_dict(), read.env_files, disabled)


def apply_profiles(model: dict[str, Any], profiles: list[str],
                   targets: list[str]) -> dict[str, dict[str, Any]]:
    """Remove the services whose profiles are all inactive; return them."""
    services = model.get("services") or {}
    active = set(profiles)
    enabled = {name for name, svc in services.items()
               if not (svc or {}).get("profiles") or "*" in active
               or active & set(svc["profiles"])}
    pending = [t for t in targets if t in services]
    while pending:  # services named on the command line, and what they need, are enabled
        name = pending.pop()
        if name in enabled and name not in targets:
            continue
        enabled.add(name)
        deps = (services[name] or {}).get("depends_on") or {}
        pending.extend(d for d in deps if d in services and d not in enabled)
    disabled = {n: s for n, s in services.items() if n not in enabled}
    if services:
        model["services"] = {n: s for n, s in services.items() if n in enabled}
    return disabled
