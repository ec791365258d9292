"""``RUN --mount=type=ssh``: the client's ssh agent, reached through its session.

For each such mount minked listens on a unix socket (bound into the step's container at
the mount's target) and relays every connection to it over one
``moby.sshforward.v1.SSH/ForwardAgent`` stream (``BytesMessage`` both ways, the agent id in
the ``buildkit.ssh.id`` metadata), as BuildKit's ``MountSSHSocket`` does. ``CheckAgent``
first asks whether the client forwards that id at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError

from minke.buildkit.pb import ssh_pb2

log = logging.getLogger(__name__)

CHECK = "/moby.sshforward.v1.SSH/CheckAgent"
FORWARD = "/moby.sshforward.v1.SSH/ForwardAgent"
ID_KEY = "buildkit.ssh.id"
CHUNK = 32 * 1024


async def has_agent(channel: Channel, agent_id: str) -> bool:
    try:
        async with channel.request(CHECK, Cardinality.UNARY_UNARY, ssh_pb2.CheckAgentRequest,
                                   ssh_pb2.CheckAgentResponse) as stream:
            await stream.send_message(ssh_pb2.CheckAgentRequest(ID=agent_id), end=True)
            await stream.recv_message()
    except GRPCError as exc:
        if exc.status in (Status.NOT_FOUND, Status.UNIMPLEMENTED):
            return False
        raise
    return True


async def _relay(channel: Channel, agent_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    try:
        async with channel.request(FORWARD, Cardinality.STREAM_STREAM, ssh_pb2.BytesMessage,
                                   ssh_pb2.BytesMessage,
                                   metadata=[(ID_KEY, agent_id)]) as stream:
            await stream.send_request()

            async def upstream() -> None:
                while data := await reader.read(CHUNK):
                    await stream.send_message(ssh_pb2.BytesMessage(data=data))
                await stream.end()

            pump = asyncio.create_task(upstream())
            try:
                async for message in stream:
                    writer.write(message.data)
                    await writer.drain()
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
    except (GRPCError, ConnectionError, OSError) as exc:
        log.debug("ssh agent forwarding ended: %s", exc)
    finally:
        writer.close()


async def listen(channel: Channel, agent_id: str, path: Path, uid: int, gid: int,
                 mode: int) -> Callable[[], Awaitable[None]] | None:
    """Serve the agent ``agent_id`` on the unix socket ``path``; None if the client has no
    such agent. Returns the coroutine function that stops it."""
    if not await has_agent(channel, agent_id):
        return None
    server = await asyncio.start_unix_server(
        lambda r, w: _relay(channel, agent_id, r, w), path=str(path))
    os.chown(path, uid, gid)
    os.chmod(path, mode)

    async def close() -> None:
        server.close()
        await server.wait_closed()

    return close
