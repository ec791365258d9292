"""Calling a manager: one gRPC channel over TLS to ``host:port``, unary calls and server
streams, with the peer's errors and network failures translated into minke's classes
(``errors.Unavailable`` for a manager that does not answer, naming it)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Cardinality
from grpclib.exceptions import GRPCError, StreamTerminatedError

from minke import errors
from minke.swarm import addresses
from minke.swarm.ca.rootca import MANAGER_OU
from minke.swarm.rpc.codec import JSONCodec
from minke.swarm.rpc.status import from_grpc

CALL_TIMEOUT = 10.0  # seconds for a unary call, connection included


class ManagerConnection:
    """A channel to the manager at ``addr`` (``host:port``); ``close`` when done."""

    def __init__(self, addr: str, tls: ssl.SSLContext) -> None:
        self.addr = addr
        host, port = addresses.split_addr(addr, what="manager")
        # The manager's certificate names it swarm-manager (and its node ID); whatever
        # address we dialled, that name is what we check.
        config = Configuration(ssl_target_name_override=MANAGER_OU)
        self._channel = Channel(host, port, ssl=tls, codec=JSONCodec(), config=config)

    def close(self) -> None:
        self._channel.close()

    async def call(self, name: str, message: Any, timeout: float = CALL_TIMEOUT) -> Any:
        try:
            async with asyncio.timeout(timeout):
                async with self._channel.request(name, Cardinality.UNARY_UNARY, None, None,
                                                 timeout=timeout) as stream:
                    await stream.send_message(message, end=True)
                    return await stream.recv_message()
        except GRPCError as exc:
            raise from_grpc(exc) from exc
        except (TimeoutError, OSError, ssl.SSLError, StreamTerminatedError) as exc:
            raise self.unreachable(exc) from exc

    async def stream(self, name: str, message: Any) -> AsyncIterator[Any]:
        """The replies of a server stream, until the manager ends it (or the connection
        breaks: ``errors.Unavailable``)."""
        try:
            async with self._channel.request(name, Cardinality.UNARY_STREAM, None,
                                             None) as stream:
                await stream.send_message(message, end=True)
                async for reply in stream:
                    yield reply
        except GRPCError as exc:
            raise from_grpc(exc) from exc
        except (OSError, ssl.SSLError, StreamTerminatedError) as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, exc: BaseException) -> errors.Unavailable:
        if isinstance(exc, TimeoutError):
            why = "timed out"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            why = f"TLS handshake refused: {exc.verify_message}"
        else:
            why = str(exc) or type(exc).__name__
        return errors.Unavailable(f"manager {self.addr} did not answer: {why}")
