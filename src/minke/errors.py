"""The error classes every layer of minke raises. Imports nothing from minke.

One tree of *classes*, not per-object errors (containerd's errdefs)::

    MinkeError
    ├── InvalidParameter   bad input: a malformed name, value or request (HTTP 400)
    ├── Unauthorized       a registry refused the credentials, or wanted some (401)
    ├── NotFound           no such object (404)
    ├── Conflict           the object exists or is in a state that forbids this (409)
    ├── NotModified        the request asked for the state the object is already in (304)
    ├── Forbidden          refused by policy (403)
    ├── Unavailable        a dependency (runtime, kernel feature) cannot serve now (503)
    ├── NotSupported       a feature minke does not have on this host (501)
    └── InternalError      a bug or an unexpected failure of an outside program (500)

The message carries the object and Docker's text where clients parse it
("No such container: web"). ``httperrors`` is the one map to and from HTTP status codes.
"""

from __future__ import annotations


class MinkeError(Exception):
    """Base of every error minke raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(MinkeError):
    """The caller sent something malformed; retrying the same request fails the same way."""


class Unauthorized(MinkeError):
    """A registry refused the credentials given, or asked for credentials none were given for."""


class NotFound(MinkeError):
    """The named object does not exist."""


class Conflict(MinkeError):
    """The object exists already, or is in a state that forbids the operation."""


class NotModified(MinkeError):
    """Nothing to do: the object is already in the state asked for (start of a running one)."""


class Forbidden(MinkeError):
    """Refused by policy, not by state."""


class Unavailable(MinkeError):
    """A dependency cannot serve the request now; the same request may succeed later."""


class NotSupported(MinkeError):
    """The feature exists in Docker but not in minke, or not on this host."""


class InternalError(MinkeError):
    """An outside program or the kernel failed in a way the caller cannot fix."""


class NoSuchContainer(NotFound):
    """Docker's "No such container: x"."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No such container: {name}")


class NoSuchImage(NotFound):
    """Docker's "No such image: x"."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No such image: {name}")


class NoSuchExec(NotFound):
    """Docker's "No such exec instance: x"."""

    def __init__(self, exec_id: str) -> None:
        super().__init__(f"No such exec instance: {exec_id}")
