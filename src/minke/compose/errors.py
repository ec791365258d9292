"""The errors of the Compose layer.

Every failure of loading a project is a ``ComposeFileError`` (an ``InvalidParameter``: the
same input fails the same way), and its message names the file, the line and the path of
the offending value when they are known, as ``docker compose`` does
("compose.yaml:7: services.web.ports.0 ..."). Failures of bringing a project up are
``ComposeRunError`` and name the service or container.
"""

from __future__ import annotations

from minke.errors import InvalidParameter, MinkeError


class ComposeFileError(InvalidParameter):
    """A Compose file (or the environment it reads) is malformed or inconsistent."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if path:
            message = f"{path}: {message}" if not message.startswith(path) else message
        super().__init__(where + message)
        self.file = file
        self.line = line
        self.path = path


class ComposeRunError(MinkeError):
    """Converging the project failed; the message names the service or container."""
