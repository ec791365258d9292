"""Helpers of the runc + conmon tests: how long a container may take, and reading an
attach stream to its end."""

from __future__ import annotations

from minke.engine.runtime import AttachStream

WAIT = 20.0  # s; generous upper bound for any single container to finish


async def drain(stream: AttachStream) -> tuple[bytes, bytes]:
    """Everything the stream carries until it ends, as (stdout, stderr); then closes it."""
    out, err = bytearray(), bytearray()
    while (chunk := await stream.read()) is not None:
        (out if chunk[0] == 1 else err).extend(chunk[1])
    stream.close()
    return bytes(out), bytes(err)
