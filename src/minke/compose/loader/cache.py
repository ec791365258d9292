"""Validated Compose files kept between runs, keyed by the options, checked by their inputs.

Reading a project costs far more than a command that finds nothing to do (ruamel.yaml and
jsonschema imports, parsing, interpolation, schema validation, merge). ``load`` here
serves the merged, validated model of an earlier read (``project.read``) while every input
of that read is unchanged: the files it read (sha256 of their content), the paths it
looked for, the environment variables it looked up (``inputs``); then ``finish`` (project
name, profiles, normalisation) runs as always, so another project name or profile reuses
the same entry. Otherwise it reads (importing the loader only then) and keeps the result
under ``$XDG_CACHE_HOME/minke/compose`` (``~/.cache``), one JSON file per key: the options
that choose the files, the working directory and the loader's own code. A project read
from standard input is never kept. ``MINKE_COMPOSE_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import json
import os

from .finish import Read, finish
from .inputs import Inputs, digest, record, unchanged
from .options import Loaded, ProjectOptions

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

FORMAT = 1  # bump when what is stored changes meaning
KEEP = 256  # entries kept; the least recently written go first


def directory(environ: Any) -> str:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minke", "compose")


def _code_stamp() -> list[Any]:
    """The loader's own files (name, size, mtime): a changed minke never reads old models."""
    here = os.path.dirname(os.path.abspath(__file__))
    stamp: list[Any] = []
    for folder in (here, os.path.dirname(here)):
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    stamp.append([entry.name, st.st_size, st.st_mtime_ns])
    return stamp


def key(opts: ProjectOptions) -> str:
    data = {"format": FORMAT, "files": opts.files, "directory": opts.project_directory,
            "env_files": opts.env_files, "cwd": opts.cwd, "home": opts.environ.get("HOME"),
            "code": _code_stamp()}
    return digest(json.dumps(data, sort_keys=True).encode())


def enabled(opts: ProjectOptions) -> bool:
    return opts.environ.get("MINKE_COMPOSE_CACHE", "1") != "0" and "-" not in opts.files


def lookup(opts: ProjectOptions) -> Read | None:
    """The read of an earlier load whose inputs are all unchanged, or None."""
    path = os.path.join(directory(opts.environ), key(opts) + ".json")
    try:
        with open(path) as f:
            entry = json.load(f)
        inputs = Inputs(**entry["inputs"])
        read = Read(**entry["read"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return read if unchanged(inputs, opts.environ) else None


def store(opts: ProjectOptions, read: Read, inputs: Inputs) -> None:
    if not inputs.replayable:
        return
    import tempfile

    folder = directory(opts.environ)
    entry = {"inputs": inputs.as_dict(), "read": read.as_dict()}
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, os.path.join(folder, key(opts) + ".json"))
    except (OSError, TypeError, ValueError):
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
        return
    prune(folder)


def prune(folder: str) -> None:
    """Keep the ``KEEP`` most recently written entries (a store is a load: slow anyway)."""
    with contextlib.suppress(OSError):
        with os.scandir(folder) as found:
            entries = sorted((e for e in found if e.name.endswith(".json")),
                             key=lambda e: e.stat().st_mtime, reverse=True)
        for entry in entries[KEEP:]:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def load(opts: ProjectOptions) -> Loaded:
    """``project.load(opts)``, from the cache when its inputs have not changed."""
    if not enabled(opts):
        from .project import load as load_uncached

        return load_uncached(opts)
    read = lookup(opts)
    if read is None:
        from . import project

        with record() as inputs:
            read = project.read(opts)
        store(opts, read, inputs)
    return finish(read, opts)
