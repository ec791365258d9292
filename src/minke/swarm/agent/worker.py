"""A worker node's running parts while it is in a swarm: its session with a manager
(``session.py``), the copy of the cluster state the session keeps (``mirror.py``), the
executor running its tasks from that copy (the same ``executor.py`` a manager runs on its
store), and the renewal of its certificate through the manager's CA (a manager
certificate, after ``node promote``, makes the node a manager: ``on_promoted``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from minke.aio import cancel
from minke.swarm.agent.logpublisher import LogPublisher
from minke.swarm.agent.mirror import MirrorStore
from minke.swarm.agent.session import AgentSession
from minke.swarm.ca import DataKey, new_csr
from minke.swarm.localstate import LocalState, LocalStore
from minke.swarm.manager.caserver import RENEW
from minke.swarm.network.attachments import RemoteAttacher
from minke.swarm.renewal import CertificateRenewer
from minke.swarm.rpc import Identity, ManagerConnection, NodeCredentials

log = logging.getLogger(__name__)


class WorkerNode:
    def __init__(self, agent: Any, local: LocalStore, state: LocalState, data_key: DataKey,
                 *, on_removed: Callable[[str], Awaitable[None]],
                 on_promoted: Callable[[], Awaitable[None]] | None = None) -> None:
        self.agent = agent  # the LocalAgent: describe() and executor()
        self.local = local
        self.state = state
        self.data_key = data_key  # this node's own key for its files at rest
        self.on_removed = on_removed
        self.on_promoted = on_promoted  # the node got a manager certificate
        self.mirror = MirrorStore()
        self.credentials = NodeCredentials(*local.load_certificates(data_key))
        self.session = AgentSession(
            managers=state.managers, credentials=lambda: self.credentials,
            mirror=self.mirror, describe=agent.describe, addr=state.advertise_addr,
            on_removed=on_removed, logs=LogPublisher(agent.engine.containers))
        self.renewer = CertificateRenewer(self.credentials.cert_pem, self._renew)
        self.executor: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.session.start()
        self.renewer.start()
        self._tasks = [asyncio.create_task(self._run_tasks(), name="swarm-worker")]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel(task)
        if self.executor is not None:
            await self.executor.stop()
            self.executor = None
        await self.renewer.stop()
        await self.session.stop()
        await self.mirror.close()

    async def _run_tasks(self) -> None:
        """Once the first snapshot is in: run this node's tasks from the copy, and renew
        the certificate when the cluster changes this node's role."""
        await self.session.synced.wait()
        index, me = await self.mirror.view(lambda tx: (tx.index,
                                                       tx.get("node", self.state.node_id)))
        if me is not None:  # a demoted manager, or a role changed while this node was away
            await self._follow_role(me["Spec"]["Role"])
        try:
            self.executor = self.agent.executor(self.mirror, self.state.node_id,
                                                self.mirror.key)
            # standalone containers' network attachments: asked of the managers
            self.executor.networks.attacher = RemoteAttacher(
                self.session.candidates, lambda: self.credentials)
            await self.executor.start()
        except Exception:  # the role still follows the store
            log.exception("swarm: this worker's task executor did not start")
        async for event in self.mirror.watch(("node",), since=index):
            if event.id == self.state.node_id:
                await self._follow_role(event.object["Spec"]["Role"])

    async def _follow_role(self, role: str) -> None:
        """A certificate for the role the store gives this node; a manager one (promoted
        again before this worker saw it demoted, say) makes it a manager."""
        if role != self.credentials.identity.role:
            self.renewer.renew_now()
        elif role == "manager" and self.on_promoted is not None:
            await self.on_promoted()

    async def _renew(self) -> bytes:
        csr, key = await asyncio.to_thread(new_csr)
        conn = ManagerConnection(self.session.candidates()[0],
                                 self.credentials.client_context())
        try:
            reply = await conn.call(RENEW, {"CSR": csr.decode()})
        finally:
            conn.close()
        cert = str(reply["Certificate"]).encode()
        if Identity.from_certificate(cert).node_id != self.state.node_id:
            raise ValueError("the renewed certificate is not this node's")
        await asyncio.to_thread(self.local.save_certificates, root_ca=self.credentials.root_pem,
                                cert=cert, key=key, data_key=self.data_key)
        self.credentials = NodeCredentials(self.credentials.root_pem, cert, key)
        log.info("swarm: node certificate renewed (role %s)", self.credentials.identity.role)
        if self.credentials.identity.role == "manager" and self.on_promoted is not None:
            await self.on_promoted()
        return cert
