"""Pumping a container's or exec's live stream over a hijacked connection.

Output goes out framed (non-TTY) or raw (TTY); client input goes to the process's stdin,
watching for the detach key sequence; the client's half-close closes the process's stdin.
"""

from __future__ import annotations

import asyncio
import contextlib

from minke import detachkeys
from minke.api.hijack import HijackedConnection
from minke.api.streams import frame
from minke.engine.runtime import AttachStream
from minke.errors import InvalidParameter


def parse_detach_keys(spec: str | None) -> bytes:
    try:
        return detachkeys.parse_detach_keys(spec)
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from None


async def pump(
    conn: HijackedConnection, stream: AttachStream, *, tty: bool, stdin: bool,
    stdout: bool = True, stderr: bool = True, detach_keys: bytes = b"\x10\x11",
) -> None:
    """Run until the process's output ends, the client detaches or goes away."""
    output = asyncio.create_task(_output(conn, stream, tty=tty, stdout=stdout, stderr=stderr))
    inputs = asyncio.create_task(_input(conn, stream, tty=tty, detach_keys=detach_keys)) if stdin \
        else None
    waiting = {output} | ({inputs} if inputs else set())
    try:
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if output in done:
                break
            if inputs in done and inputs.result() == "detached":  # type: ignore[union-attr]
                break
    finally:
        for task in (output, inputs):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        stream.close()


async def _output(
    conn: HijackedConnection, stream: AttachStream, *, tty: bool, stdout: bool, stderr: bool
) -> None:
    while True:
        item = await stream.read()
        if item is None:
            return
        kind, data = item
        if (kind == 1 and not stdout) or (kind == 2 and not stderr):
            continue
        try:
            await conn.write(data if tty else frame(kind, data))
        except ConnectionError:
            return


async def _input(
    conn: HijackedConnection, stream: AttachStream, *, tty: bool, detach_keys: bytes
) -> str:
    matched = 0
    while True:
        data = await conn.read()
        if not data:
            stream.close_stdin()
            return "eof"
        if tty and detach_keys:
            # Detach keys only mean something on a terminal, as in Docker.
            out = bytearray()
            for byte in data:
                if byte == detach_keys[matched]:
                    matched += 1
                    if matched == len(detach_keys):
                        return "detached"
                    continue
                if matched:
                    out += detach_keys[:matched]
                    matched = 0
                out.append(byte)
            data = bytes(out)
        if data:
            await stream.write(data)
