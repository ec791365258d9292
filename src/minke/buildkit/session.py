"""Client sessions: the gRPC servers Docker clients host over ``POST /session``.

A BuildKit client opens one session per build (or shares one across builds) and names it
in ``SolveRequest.Session``; its headers say its id, its shared key (which names the
client-side directory cache) and which gRPC methods it serves (file sync, secrets, ssh
agent, auth). minked is the gRPC client on that connection. A solve may name a session
that is still connecting, so ``get`` waits for it a while.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from minke.buildkit.h2 import HijackedChannel
from minke.buildkit.pb import secrets_pb2
from minke.errors import InvalidParameter, NotFound

log = logging.getLogger(__name__)

HEADER_ID = "X-Docker-Expose-Session-Uuid"
HEADER_NAME = "X-Docker-Expose-Session-Name"
HEADER_SHARED_KEY = "X-Docker-Expose-Session-Sharedkey"
HEADER_METHOD = "X-Docker-Expose-Session-Grpc-Method"
GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
WAIT_FOR_SESSION = 10.0  # seconds a solve waits for the session it names


class SessionGone(InvalidParameter):
    """The client's session connection closed (the client went away mid-build)."""


@dataclass
class Session:
    id: str
    name: str
    shared_key: str
    methods: set[str]
    channel: HijackedChannel
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def supports(self, method: str) -> bool:
        return method in self.methods

    async def secret(self, secret_id: str) -> bytes | None:
        """A secret's bytes from the client, or None when it has no such secret."""
        if not self.supports(GET_SECRET):
            return None
        try:
            async with self.channel.request(
                GET_SECRET, Cardinality.UNARY_UNARY, secrets_pb2.GetSecretRequest,
                secrets_pb2.GetSecretResponse,
            ) as stream:
                await stream.send_message(secrets_pb2.GetSecretRequest(ID=secret_id), end=True)
                response = await stream.recv_message()
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise
        return response.data if response is not None else None


    async def ssh(self, agent_id: str, path: Path, uid: int, gid: int,
                  mode: int) -> Callable[[], Awaitable[None]] | None:
        """Serve the client's ssh agent ``agent_id`` on ``path`` (``builder.SshSource``)."""
        from minke.buildkit import sshforward

        if not self.supports(sshforward.FORWARD):
            return None
        return await sshforward.listen(self.channel, agent_id, path, uid, gid, mode)


class SessionManager:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._changed = asyncio.Condition()

    async def add(self, session: Session) -> None:
        async with self._changed:
            self._sessions[session.id] = session
            self._changed.notify_all()

    async def remove(self, session: Session) -> None:
        session.closed.set()
        async with self._changed:
            if self._sessions.get(session.id) is session:
                del self._sessions[session.id]
            self._changed.notify_all()

    async def get(self, session_id: str, timeout: float = WAIT_FOR_SESSION) -> Session:
        async def found() -> Session:
            async with self._changed:
                await self._changed.wait_for(lambda: session_id in self._sessions)
                return self._sessions[session_id]

        try:
            async with asyncio.timeout(timeout):
                return await found()
        except TimeoutError:
            raise NotFound(f"no active session for {session_id}: context deadline exceeded") \
                from None


def stream_errors() -> tuple[type[BaseException], ...]:
    """What a call on a session raises when the client's connection dropped."""
    return (StreamTerminatedError, ConnectionError, SessionGone)
