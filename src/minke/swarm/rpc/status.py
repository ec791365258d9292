"""minke's error classes and gRPC status codes, both ways, at the RPC boundary (the
``httperrors`` of node-to-node calls)."""

from __future__ import annotations

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from minke import errors

_TO_STATUS: list[tuple[type[errors.MinkeError], Status]] = [
    (errors.InvalidParameter, Status.INVALID_ARGUMENT),
    (errors.Unauthorized, Status.UNAUTHENTICATED),
    (errors.NotFound, Status.NOT_FOUND),
    (errors.Conflict, Status.ALREADY_EXISTS),
    (errors.Forbidden, Status.PERMISSION_DENIED),
    (errors.Unavailable, Status.UNAVAILABLE),
    (errors.NotSupported, Status.UNIMPLEMENTED),
]
_FROM_STATUS: dict[Status, type[errors.MinkeError]] = {s: c for c, s in _TO_STATUS}
_FROM_STATUS[Status.DEADLINE_EXCEEDED] = errors.Unavailable
_FROM_STATUS[Status.FAILED_PRECONDITION] = errors.InvalidParameter


def to_grpc(exc: errors.MinkeError) -> GRPCError:
    for cls in type(exc).__mro__:
        for known, status in _TO_STATUS:
            if cls is known:
                return GRPCError(status, exc.message)
    return GRPCError(Status.UNKNOWN, exc.message)


def from_grpc(exc: GRPCError) -> errors.MinkeError:
    """The minke error for a status a peer answered, with SwarmKit's text shape
    (``rpc error: code = … desc = …``), as dockerd shows errors from its managers."""
    cls = _FROM_STATUS.get(exc.status, errors.InternalError)
    code = "".join(p.title() for p in exc.status.name.split("_"))
    return cls(f"rpc error: code = {code} desc = {exc.message or ''}")
