"""Leader election among managers on the etcd store: etcd's lease-based recipe
(``concurrency.Election``'s campaign/observe), on one leader key.

Each manager holds a *session*: a lease of ``ttl`` seconds it keeps alive every ``ttl/3``.
To campaign it creates the leader key ``P leader`` = its node ID under that lease, only if
the key does not exist (a ``Txn`` comparing its create revision with 0); otherwise it
watches the key and tries again when it is deleted. The key's create revision is the
leader's *fence*: every write of its reconcilers compares it (``EtcdStore.fenced``), so a
leader whose lease expired (process stopped, cut off, paused) cannot write after another
one was elected, even if it does not know yet.

The session also holds ``P managers/<node-id>``: the managers whose key exists are
reachable (``docker node ls`` MANAGER STATUS), the leader marks the others unreachable.

The session is lost when the lease expires (a keep-alive answers TTL 0, or none has
succeeded for ``ttl`` seconds, after which etcd has dropped the lease and our keys) or the
leader key stops being ours; the holder must then stop acting as leader.

Default TTL 2 s: etcd's minimum lease TTL with its default timing (1.5 × election timeout
of 1 s, rounded up), and a new leader runs ≤ 2 s + one campaign round after the old one
died, against Docker Swarm's Raft election of ~3-5 s; keep-alives every 0.67 s survive two
lost ones. A shorter TTL would also expire leases during etcd's own leader changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from aetcd import exceptions as etcd_errors
from aetcd import rpc

from minke import errors
from minke.aio import cancel
from minke.swarm.store.etcd import EtcdStore, Fence, prefix_end

log = logging.getLogger(__name__)

DEFAULT_TTL = 2.0  # seconds; see the module docstring


class Election:
    """One manager's session and campaign on ``store``'s leader key."""

    def __init__(self, store: EtcdStore, node_id: str, ttl: float = DEFAULT_TTL) -> None:
        if ttl <= 0:
            raise errors.InvalidParameter(f"leader lease TTL must be positive, not {ttl}")
        self.store = store
        self.node_id = node_id
        self.ttl = max(1, math.ceil(ttl))  # etcd leases count whole seconds
        self.key = store.keys.leader
        self.lease_id = 0
        self.lost = asyncio.Event()  # set when the session (and any leadership) is gone
        self._keepalive: asyncio.Task[None] | None = None
        self._fence_task: asyncio.Task[None] | None = None

    async def _open_session(self) -> None:
        self.lost.clear()
        await self.store.ready()  # connected, and the prefix is this cluster's
        grant = await self.store.call(self.store.client.leasestub.LeaseGrant(
            rpc.LeaseGrantRequest(TTL=self.ttl), timeout=self.store._timeout))
        self.lease_id = grant.ID
        self._keepalive = asyncio.create_task(self._keep_alive(), name="swarm-lease")
        # This manager is reachable while its session lives (``docker node ls``).
        present = rpc.RequestOp(request_put=rpc.PutRequest(
            key=self.store.keys.managers + self.node_id.encode(), value=b"",
            lease=self.lease_id))
        await self.store.txn([], [present])

    async def _keep_alive(self) -> None:
        last_ok = time.monotonic()
        try:
            while time.monotonic() - last_ok < self.ttl:
                try:
                    async with asyncio.timeout(self.ttl / 3):
                        reply = await self.store.client.refresh_lease(self.lease_id)
                    if reply is None or reply.TTL <= 0:
                        break  # etcd dropped the lease: our keys are gone
                    last_ok = time.monotonic()
                except (TimeoutError, etcd_errors.ClientError, errors.MinkeError) as exc:
                    log.warning("swarm: leader lease keep-alive failed: %s", exc)
                await asyncio.sleep(self.ttl / 3)
        finally:
            self.lost.set()

    async def campaign(self) -> Fence:
        """Wait until this manager is the leader; its fence."""
        while True:
            if self._keepalive is None or self.lost.is_set():
                await self._close_session()
                await self._open_session()
            absent = rpc.Compare(key=self.key, target=rpc.Compare.CREATE,
                                 result=rpc.Compare.EQUAL, create_revision=0)
            put = rpc.RequestOp(request_put=rpc.PutRequest(
                key=self.key, value=self.node_id.encode(), lease=self.lease_id))
            get = rpc.RequestOp(request_range=rpc.RangeRequest(key=self.key))
            response = await self.store.txn([absent], [put], [get])
            kvs = [] if response.succeeded else response.responses[0].response_range.kvs
            if response.succeeded or (kvs and kvs[0].lease == self.lease_id):  # ours
                fence = Fence(self.key, kvs[0].create_revision if kvs
                              else response.header.revision)
                self._fence_task = asyncio.create_task(self._watch_fence(fence),
                                                       name="swarm-fence")
                return fence
            await self._wait_deleted(response.header.revision)

    async def _wait_deleted(self, revision: int) -> None:
        """Return once the leader key is deleted after ``revision`` (or our session ends)."""
        with contextlib.suppress(etcd_errors.ClientError):
            stream = await self.store.client.watch(self.key, start_revision=revision + 1)
            lost = asyncio.ensure_future(self.lost.wait())
            try:
                async for change in _until(stream, lost):
                    if change.kind == "DELETE":
                        return
            finally:
                lost.cancel()
                with contextlib.suppress(Exception):
                    await stream.cancel()

    async def _watch_fence(self, fence: Fence) -> None:
        """Lose the session when the leader key stops being ours (revoked, deleted)."""
        while not self.lost.is_set():
            try:
                kv = await self.store.client.get(self.key)
                if kv is None or kv.create_revision != fence.revision:
                    break
                await self._wait_deleted(kv.mod_revision)
                if self.lost.is_set():
                    return
            except (etcd_errors.ClientError, errors.MinkeError):
                await asyncio.sleep(self.ttl / 3)  # the keep-alive decides on outages
        self.lost.set()

    async def reachable(self) -> tuple[set[str], int]:
        """The node IDs of the managers whose session lives, and the revision read at."""
        prefix = self.store.keys.managers
        response = await self.store._range(prefix, prefix_end(prefix))
        return ({kv.key[len(prefix):].decode() for kv in response.kvs},
                int(response.header.revision))

    async def changes(self, revision: int, stop: asyncio.Future[Any]) -> None:
        """Return at the first change of the managers' keys after ``revision`` (or when
        ``stop`` is done)."""
        prefix = self.store.keys.managers
        stream = await self.store.client.watch(prefix, range_end=prefix_end(prefix),
                                               start_revision=revision + 1)
        try:
            async for _change in _until(stream, stop):
                return
        finally:
            with contextlib.suppress(Exception):
                await stream.cancel()

    async def leader(self) -> str | None:
        """The node ID of the current leader, None while there is none (observe)."""
        kv = await self.store.call(self.store.client.get(self.key))
        return kv.value.decode() if kv is not None else None

    async def resign(self) -> None:
        """Give up leadership and the session (a clean stop: another manager takes over at
        once instead of after the TTL)."""
        await self._close_session(revoke=True)

    async def _close_session(self, revoke: bool = False) -> None:
        tasks = (self._keepalive, self._fence_task)
        self._keepalive = self._fence_task = None
        for task in tasks:
            await cancel(task)
        if revoke and self.lease_id:
            with contextlib.suppress(etcd_errors.ClientError, errors.MinkeError):
                await self.store.client.revoke_lease(self.lease_id)
        self.lease_id = 0
        self.lost.set()


async def _until(stream: Any, stop: asyncio.Future[Any]) -> Any:
    """The events of an aetcd watch until ``stop`` is done."""
    events = aiter(stream)
    step: asyncio.Future[Any] | None = None
    try:
        while not stop.done():
            step = asyncio.ensure_future(anext(events))
            await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return
            try:
                yield step.result()
            except StopAsyncIteration:
                return
    finally:  # the consumer may stop early: leave no step pending or unretrieved
        if step is not None:
            if not step.done():
                step.cancel()
            elif not step.cancelled():
                step.exception()
