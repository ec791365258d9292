"""What every verb receives: the chosen daemon, a lazily made client, the output streams,
and the error conventions (``CLIError`` with an exit status, ``describe`` for daemon errors).
"""

from __future__ import annotations

import sys

from minke import errors

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

    from minke.client import APIClient


class CLIError(Exception):
    """A failure the CLI reports itself; ``message`` is printed as is (if non-empty)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def describe(exc: BaseException) -> str:
    """How docker words an error: daemon answers get "Error response from daemon: "."""
    from minke.client import ConnectionFailed

    if isinstance(exc, ConnectionFailed | CLIError):
        return str(exc)
    if isinstance(exc, errors.MinkeError):
        return f"Error response from daemon: {exc}"
    return str(exc)


class Context:
    """The global options and the streams; the client is made on first use."""

    def __init__(self, host: str | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None) -> None:
        self.host = host
        self.tls: dict[str, bool | str] = {}  # the global TLS flags, for resolve_host
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._client: APIClient | None = None

    @property
    def client(self) -> APIClient:
        if self._client is None:
            from minke.client import APIClient, resolve_host

            self._client = APIClient(resolve_host(self.host, **self.tls))  # type: ignore[arg-type]
        return self._client

    def err(self, message: str) -> None:
        self.stderr.write(message + "\n")
        self.stderr.flush()

    def confirm(self, warning: str) -> bool:
        """docker's prompt before a prune: "WARNING! <warning>", then a yes read from stdin."""
        self.stdout.write(f"WARNING! {warning}\nAre you sure you want to continue? [y/N] ")
        self.stdout.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")
