"""The one map between minke's error classes and HTTP status codes.

The API server turns exceptions into ``{"message": ...}`` with ``to_status``; the client turns
a status and message back into the same class with ``from_status``. No route picks a status.
"""

from __future__ import annotations

from minke import errors

_STATUS: dict[type[errors.MinkeError], int] = {
    errors.InvalidParameter: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.NotModified: 304,
    errors.NotSupported: 501,
    errors.Unavailable: 503,
    errors.InternalError: 500,
}

_CLASS: dict[int, type[errors.MinkeError]] = {status: cls for cls, status in _STATUS.items()}


def to_status(exc: BaseException) -> int:
    """The HTTP status for ``exc``: the most specific class in its MRO wins; others are 500."""
    for cls in type(exc).__mro__:
        status = _STATUS.get(cls)  # type: ignore[arg-type]
        if status is not None:
            return status
    return 500


def from_status(status: int, message: str) -> errors.MinkeError:
    """The error a client raises for a failed response with ``status`` and ``message``."""
    cls = _CLASS.get(status)
    if cls is None:
        cls = errors.InvalidParameter if 400 <= status < 500 else errors.InternalError
    return cls(message)
