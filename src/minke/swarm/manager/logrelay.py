"""``service logs`` on any manager, for the tasks of every node: who to ask for the lines
of a task on another node, and the manager-to-manager method that answers.

SwarmKit runs an agent on every node, managers included, each publishing its tasks' logs
to the leader's broker, and a manager that does not lead proxies the subscription to the
leader. minke's managers run no agent session, but they do serve RPC, so:

- a task on *another manager*: that manager is asked directly, by ``SubscribeLogs`` for
  its own node; it reads its containers as an agent would (``agent/logpublisher.py``);
- a task on a *worker*: only the leader holds the worker's session; the leader's broker
  (``logbroker.py``) asks the agent down it. A manager that does not lead asks the
  leader by ``SubscribeLogs`` naming the worker, and the leader relays what the worker's
  agent publishes.

``SubscribeLogs`` is a server stream for managers' certificates only (``MANAGER``):
the request names ``NodeID``, ``TaskIDs`` and ``Follow``/``Tail``/``Since``; the replies
are what an agent publishes (``Messages``, ``Done``, ``Closed``), ending after
``Closed``. The client going away (its request cancelled, its connection closed) cancels
the subscription down the line, on the worker's agent too.

``started`` is what ``--follow`` needs for tasks that start after it began (SwarmKit's
broker re-reads the task set on task events): the service's tasks as they reach RUNNING
on another node, from the store every manager reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from minke import errors
from minke.aio import cancel
from minke.swarm.agent.logpublisher import publish
from minke.swarm.manager import tasks as t
from minke.swarm.manager.logbroker import CLOSED, LogBroker, Subscription, batch
from minke.swarm.rpc import MANAGER, Call, ManagerConnection, Method, NodeCredentials
from minke.swarm.store import DELETE, Obj, ReadTx, Store

log = logging.getLogger(__name__)

SUBSCRIBE_LOGS = "/minke.swarm.LogBroker/SubscribeLogs"
OPTIONS = ("Follow", "Tail", "Since")
LOCAL_BACKLOG = 8  # batches a manager's own reader may be ahead of its client


class Feed(Protocol):
    """One node's lines for one request: ``queue`` gets what its publisher sends
    (``{"Messages", "Done", "Closed"}``), ending with ``Closed``; ``close`` when done."""

    queue: asyncio.Queue[Obj]

    async def close(self) -> None: ...


class BrokerFeed:
    """A worker's lines through this leader's broker (its session)."""

    def __init__(self, broker: LogBroker, sub: Subscription) -> None:
        self.broker, self.sub = broker, sub
        self.queue = sub.queue

    async def close(self) -> None:
        self.broker.cancel(self.sub)


class LocalFeed:
    """This manager's own tasks' lines, read as an agent reads them."""

    def __init__(self, containers: Any, request: Obj) -> None:
        self.queue: asyncio.Queue[Obj] = asyncio.Queue(LOCAL_BACKLOG)
        self._task = asyncio.create_task(self._run(containers, request),
                                         name="swarm-logs-local")

    async def _run(self, containers: Any, request: Obj) -> None:
        async def send(lines: list[Obj], **flags: bool) -> None:
            await self.queue.put(batch(lines, done=bool(flags.get("Done")),
                                       closed=bool(flags.get("Closed"))))
        try:
            await publish(containers, request, send)
        except errors.MinkeError as exc:
            log.debug("swarm: reading this node's task logs: %s", exc)
            await self.queue.put(CLOSED)

    async def close(self) -> None:
        await cancel(self._task)


class RemoteFeed:
    """Another manager's answer to ``SubscribeLogs``."""

    def __init__(self, addr: str, credentials: NodeCredentials, request: Obj) -> None:
        self.addr = addr
        self.queue: asyncio.Queue[Obj] = asyncio.Queue()
        self._conn = ManagerConnection(addr, credentials.client_context())
        self._task = asyncio.create_task(self._run(request), name="swarm-logs-relay")

    async def _run(self, request: Obj) -> None:
        try:
            async for got in self._conn.stream(SUBSCRIBE_LOGS, request):
                messages = got.get("Messages") if isinstance(got, dict) else None
                self.queue.put_nowait(batch(messages if isinstance(messages, list) else [],
                                            done=bool(got.get("Done")),
                                            closed=bool(got.get("Closed"))))
                if got.get("Closed"):
                    return
        except errors.MinkeError as exc:  # down, not leading any more, no session: skipped
            log.info("swarm: logs of node %s through %s: %s", request.get("NodeID"),
                     self.addr, exc)
        self.queue.put_nowait(CLOSED)  # however it ended, the reader stops waiting

    async def close(self) -> None:
        await cancel(self._task)
        self._conn.close()


def _managers(tx: ReadTx) -> tuple[dict[str, str], str]:
    """The managers' addresses by node ID, and the leader's node ID ("" if none)."""
    addrs, leader = {}, ""
    for node in tx.list("node"):
        status = node.get("ManagerStatus") or {}
        if node["Spec"].get("Role") == "manager" and status.get("Addr"):
            addrs[node["ID"]] = str(status["Addr"])
            if status.get("Leader"):
                leader = node["ID"]
    return addrs, leader


def _check_request(request: Any) -> tuple[str, list[str], Obj]:
    request = request if isinstance(request, dict) else {}
    node_id = request.get("NodeID")
    task_ids = request.get("TaskIDs")
    if not isinstance(node_id, str) or not node_id:
        raise errors.InvalidParameter("invalid NodeID: a node ID is required")
    if not isinstance(task_ids, list) or not all(isinstance(i, str) for i in task_ids):
        raise errors.InvalidParameter("invalid TaskIDs: a list of task IDs is expected")
    return node_id, task_ids, {k: request.get(k) for k in OPTIONS}


class LogRelay:
    """This manager's way to the lines of tasks on every node, and its ``SubscribeLogs``.

    ``broker`` and ``leading`` are the dispatcher's (the broker only reaches workers while
    this manager leads); ``containers`` this node's engine's (None: no tasks here);
    ``credentials`` the current ones of this node, to call the other managers."""

    def __init__(self, *, node_id: str, store: Store, broker: LogBroker,
                 leading: Callable[[], bool], containers: Any,
                 credentials: Callable[[], NodeCredentials]) -> None:
        self.node_id = node_id
        self.store = store
        self.broker = broker
        self.leading = leading
        self.containers = containers
        self.credentials = credentials

    def methods(self) -> list[Method]:
        return [Method(SUBSCRIBE_LOGS, self.serve, MANAGER, stream=True)]

    # -- asking ---------------------------------------------------------------------------

    async def open(self, node_id: str, task_ids: list[str], options: Obj) -> Feed | None:
        """The lines of ``task_ids`` on ``node_id`` (another node than this one), or None
        when no manager can reach that node now (a worker without a session, no leader).
        This node's own tasks are the caller's to read."""
        if node_id == self.node_id:
            return None
        managers, leader = await self.store.view(_managers)
        request = {"NodeID": node_id, "TaskIDs": task_ids,
                   **{k: options.get(k) for k in OPTIONS}}
        if node_id in managers:
            return RemoteFeed(managers[node_id], self.credentials(), request)
        if self.leading():
            sub = self.broker.subscribe(node_id, task_ids, options)
            return BrokerFeed(self.broker, sub) if sub is not None else None
        if leader and leader != self.node_id and leader in managers:
            return RemoteFeed(managers[leader], self.credentials(), request)
        return None

    async def started(self, service_id: str) -> AsyncIterator[Obj]:
        """The tasks of ``service_id`` on other nodes that have started (RUNNING or past
        it): those there are now, then each as it gets there, until the service is
        removed. A task may come more than once (each of its updates)."""
        def read(tx: ReadTx) -> tuple[int, list[Obj]]:
            return tx.index, tx.find("task", service_id=service_id)
        index, now = await self.store.view(read)
        for task in now:
            if self._started_elsewhere(task):
                yield task
        async for event in self.store.watch(("task", "service"), since=index):
            if event.kind == "service":
                if event.id == service_id and event.action == DELETE:
                    return
            elif event.action != DELETE and event.object.get("ServiceID") == service_id \
                    and self._started_elsewhere(event.object):
                yield event.object

    def _started_elsewhere(self, task: Obj) -> bool:
        return task.get("NodeID", "") not in ("", self.node_id) and \
            t.rank(task["Status"]["State"]) >= t.rank(t.RUNNING)

    # -- answering ------------------------------------------------------------------------

    async def serve(self, call: Call, request: Any) -> AsyncIterator[Obj]:
        """``SubscribeLogs``: this node's tasks' lines, or (leading) a worker's."""
        node_id, task_ids, options = _check_request(request)
        feed: Feed
        if node_id == self.node_id:
            if self.containers is None:
                raise errors.Unavailable("this manager runs no tasks")
            feed = LocalFeed(self.containers, {"TaskIDs": task_ids, **options})
        elif self.leading():
            sub = self.broker.subscribe(node_id, task_ids, options)
            if sub is None:
                raise errors.Unavailable(f"node {node_id} has no session with the leader")
            feed = BrokerFeed(self.broker, sub)
        else:
            raise errors.Unavailable("this manager is not the swarm's leader: ask the "
                                     "leader for the logs of a worker's tasks")
        try:
            while True:
                got = await feed.queue.get()
                yield got
                if got["Closed"]:
                    return
        finally:  # also when the caller went away (the handler is cancelled)
            await feed.close()
