"""What loading a project read: files (by content hash), paths looked for, variables.

The loader reads its files and environment through this module, so that a load can be
replayed: ``record()`` collects every file read (its sha256), every path whose existence
was tested (and the answer) and every environment variable looked up (its value, or None
when unset). ``cache`` keeps a loaded project with these inputs and serves it again while
all of them are unchanged. Outside ``record()`` nothing is collected. Stdlib only: this is
on the path of every ``minke compose`` command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any


class Inputs:
    """What one load read, as ``record()`` collected it."""

    def __init__(self, files: dict[str, str | None] | None = None,
                 paths: dict[str, bool] | None = None, env: dict[str, str | None] | None = None,
                 replayable: bool = True) -> None:
        self.files = files or {}  # path -> sha256, None: absent
        self.paths = paths or {}  # path -> is a regular file
        self.env = env or {}  # variable -> value, None: unset
        self.replayable = replayable  # False once something was read that cannot be again

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class _Current:
    """The recording in progress (a load runs on one thread, and records are not nested)."""

    inputs: Inputs | None = None

    def get(self) -> Inputs | None:
        return self.inputs


_current = _Current()


@contextmanager
def record() -> Iterator[Inputs]:
    outer, _current.inputs = _current.inputs, Inputs()
    try:
        yield _current.inputs
    finally:
        _current.inputs = outer


def digest(data: bytes) -> str:
    from ..model import sha256

    return sha256(data).hexdigest()


def read_text(path: str) -> str:
    """The file's text (OSError as ``open`` raises it), recorded by content hash."""
    inputs = _current.get()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if inputs is not None:
            inputs.files[path] = None
        raise
    if inputs is not None:
        inputs.files[path] = digest(data)
    return data.decode()


def isfile(path: str) -> bool:
    found = os.path.isfile(path)
    inputs = _current.get()
    if inputs is not None:
        inputs.paths[path] = found
    return found


def not_replayable() -> None:
    """What was just read (standard input) cannot be read again to check it."""
    inputs = _current.get()
    if inputs is not None:
        inputs.replayable = False


class TrackedEnviron(Mapping[str, str]):
    """The process environment as the loader sees it: each variable read is recorded."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _note(self, key: str) -> str | None:
        value = self._environ.get(key)
        inputs = _current.get()
        if inputs is not None:
            inputs.env[key] = value
        return value

    def __getitem__(self, key: str) -> str:
        value = self._note(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self._note(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._note(key) is not None

    def __iter__(self) -> Iterator[str]:
        # Reading every variable makes the load depend on all of them.
        inputs = _current.get()
        if inputs is not None:
            for key, value in self._environ.items():
                inputs.env[key] = value
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def unchanged(inputs: Inputs, environ: Mapping[str, str]) -> bool:
    """True when every recorded input still reads the same."""
    if not inputs.replayable:
        return False
    for key, value in inputs.env.items():
        if environ.get(key) != value:
            return False
    for path, found in inputs.paths.items():
        if os.path.isfile(path) != found:
            return False
    for path, sha in inputs.files.items():
        try:
            with open(path, "rb") as f:
                if digest(f.read()) != sha:
                    return False
        except OSError:
            if sha is not None:
                return False
    return True
