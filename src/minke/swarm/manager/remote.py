"""What a manager serves to the other nodes on its listen address (2377 by default): the
CA's methods (``caserver``), the dispatcher's (``dispatcher``), and for managers the data
key and the logs of tasks (``logrelay``), over mutual TLS with this node's certificate
(``rpc``).

The address is bound at ``start``; if it is taken (another daemon on this host holds
2377), the manager works on as a cluster of one, logs the error and tries again every
``BIND_RETRY`` seconds until it gets the port (dockerd would refuse ``swarm init``; on a
host shared by test daemons that would make every default init race for one port).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from minke import errors
from minke.aio import cancel
from minke.swarm import addresses
from minke.swarm.manager.caserver import NodeCA
from minke.swarm.manager.controlapi import ControlAPI
from minke.swarm.manager.dispatcher import Dispatcher
from minke.swarm.manager.logrelay import LogRelay
from minke.swarm.network.attachments import AttachmentAPI
from minke.swarm.rpc import MANAGER, Call, Method, NodeCredentials, RPCServer
from minke.swarm.store import Obj

log = logging.getLogger(__name__)

BIND_RETRY = 5.0  # seconds
GET_DATA_KEY = "/minke.swarm.KeyManager/GetDataKey"


class ManagerEndpoint:
    def __init__(self, control: ControlAPI, *, node_id: str, cluster_id: str,
                 listen_addr: str, credentials: NodeCredentials,
                 containers: Any = None) -> None:
        self.control = control
        self.listen_addr = listen_addr
        self.dispatcher = Dispatcher(control, node_id)
        self.credentials = credentials  # the current ones (``reload``)
        # ``containers``: this node's engine's, whose tasks' logs it serves the others
        self.logs = LogRelay(node_id=node_id, store=control.store,
                             broker=self.dispatcher.logs,
                             leading=lambda: self.dispatcher.leading, containers=containers,
                             credentials=lambda: self.credentials)
        methods = [*NodeCA(control).methods(), *self.dispatcher.methods(),
                   *AttachmentAPI(lambda: self.control.store).methods(),
                   *self.logs.methods(), Method(GET_DATA_KEY, self.data_key, MANAGER)]
        self.tls = credentials.server_context()
        self.server = RPCServer(methods, cluster_id=cluster_id, tls=self.tls)
        self._binder: asyncio.Task[None] | None = None
        self.listening = False

    async def start(self) -> None:
        """Listen; the dispatcher takes sessions once this manager leads (``Leader`` runs
        ``dispatcher.duty``)."""
        try:
            await self._bind()
        except errors.Unavailable as exc:
            log.error("swarm: %s; other nodes cannot join until it is free (retrying)", exc)
            self._binder = asyncio.create_task(self._keep_binding(), name="swarm-bind")

    async def _bind(self) -> None:
        host, port = addresses.split_addr(self.listen_addr, what="listen")
        await self.server.start(host, port)
        self.listening = True

    async def _keep_binding(self) -> None:
        while not self.listening:
            await asyncio.sleep(BIND_RETRY)
            with contextlib.suppress(errors.Unavailable):
                await self._bind()
        log.info("swarm: listening on %s", self.listen_addr)

    async def stop(self) -> None:
        await cancel(self._binder)
        if self.listening:
            await self.server.stop()
            self.listening = False
        await self.dispatcher.stop()

    def reload(self, credentials: NodeCredentials) -> None:
        """A renewed certificate: new connections present it."""
        credentials.load_chain(self.tls)
        self.credentials = credentials

    async def data_key(self, call: Call, request: Any) -> Obj:
        """For managers only (SwarmKit's key manager): the key that opens what the store
        keeps sealed (the CA key, secrets), which a manager needs to serve them."""
        return {"DataKey": base64.b64encode(self.control.data_key.key).decode()}
