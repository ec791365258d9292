"""The dispatcher (SwarmKit's ``manager/dispatcher``): the leader's side of every other
node's agent session.

- ``Session`` (a server stream): the node says it is up (its ``Description`` and address)
  and gets the cluster state it needs, first whole (``snapshot``), then every change
  (``changes``) as the store publishes it: the cluster (without its keys), all nodes,
  services, networks and tasks (the data path of every node balances over the tasks of
  all of them and programs its overlay from where they run), and the secrets and configs
  the node's own tasks refer to, opened (the connection is TLS; the node keeps them in
  memory only).
- ``Heartbeat``: the node's proof of life, answered with the period to keep; a node that
  misses ``GRACE`` periods is marked Down and its tasks ORPHANED, which the orchestrator
  replaces elsewhere at once (a lost node says nothing about the task, so no restart
  delay). Heartbeats touch no store: only the transitions are written.
- ``UpdateTaskStatus``: the agent's reports, applied forward only and only for the
  caller's own tasks.
- ``PublishLogs`` (``logbroker.py``): the lines an agent sends for a log subscription
  that went down its session (``logs`` messages).

Only the leader takes sessions and decides node-down (``start``/``stop`` follow the
leadership, ``LeaderDuty``); another manager refuses them, so agents go on to the next
manager until they reach the leader.

When the node comes back, a new session makes it ready again; its agent then finds its old
tasks ended with DesiredState SHUTDOWN and stops their containers.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

from minke import errors
from minke.aio import cancel
from minke.swarm.ids import new_id
from minke.swarm.manager import tasks as t
from minke.swarm.manager.controlapi import ControlAPI
from minke.swarm.manager.logbroker import LogBroker
from minke.swarm.manager.secrets import CONFIG, SEALED, SECRET, PayloadAPI, references
from minke.swarm.rpc import NODE, Call, Method
from minke.swarm.store import DELETE, Event, Obj, ReadTx, Store, Tx

log = logging.getLogger(__name__)

SERVICE = "/minke.swarm.Dispatcher/"
SESSION = SERVICE + "Session"
HEARTBEAT = SERVICE + "Heartbeat"
UPDATE_TASK_STATUS = SERVICE + "UpdateTaskStatus"

GRACE = 3  # heartbeat periods without one before a node is Down (SwarmKit's multiplier)
# After this manager (re)starts, the nodes it thinks up get this long to open a session:
# they notice the restart and reconnect with a backoff of their own.
STARTUP_GRACE = 10.0  # seconds
SECOND = 1_000_000_000
STATE_KINDS = ("cluster", "node", "service", "network", "task")
PAYLOAD_KINDS = (SECRET, CONFIG)
MAX_BATCH = 500  # changes per message
PERIOD_REFRESH = 1.0  # seconds between reads of the heartbeat period from the store


NOT_LEADER = "this manager is not the swarm's leader: open the session with the leader"


def mark_down(tx: Tx, node_id: str, why: str) -> int:
    """Mark the node Down and orphan its tasks that were assigned and have not ended (the
    orchestrator replaces them elsewhere); how many."""
    node = tx.get("node", node_id)
    if node is None:
        return 0
    if node["Status"]["State"] != "down":
        node["Status"] = {**node["Status"], "State": "down", "Message": why}
        tx.update("node", node)
    orphaned = 0
    for task in tx.find("task", node_id=node_id):
        if not t.has_ended(task) and t.rank(task["Status"]["State"]) >= t.rank(t.ASSIGNED):
            t.set_state(task, t.ORPHANED, "task belongs to a node that is down", why)
            tx.update("task", task)
            orphaned += 1
    return orphaned


class LeaderDuty:
    """Starts and stops the dispatcher's leading with the leader's reconcilers."""

    def __init__(self, dispatcher: Dispatcher, store: Store) -> None:
        self.dispatcher, self.store = dispatcher, store
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.dispatcher.start(self.store),
                                         name="swarm-dispatcher-lead")

    async def stop(self) -> None:
        await cancel(self._task)
        await self.dispatcher.stop()


def heartbeat_period(cluster: Obj) -> float:
    """Seconds, from the cluster's ``Spec.Dispatcher.HeartbeatPeriod`` (nanoseconds)."""
    ns = (cluster["Spec"].get("Dispatcher") or {}).get("HeartbeatPeriod") or SECOND
    return ns / SECOND


def scrub_cluster(cluster: Obj) -> Obj:
    """The cluster object a node may see: no CA key, join tokens or unlock key."""
    out = t.public(cluster)
    out.pop("UnlockKey", None)
    out["RootCA"] = {"CACert": cluster["RootCA"]["CACert"],
                     "Digest": cluster["RootCA"].get("Digest", "")}
    return out


def task_refs(task: Obj) -> set[tuple[str, str]]:
    """(kind, ID) of the secrets and configs a task mounts."""
    spec = {"Spec": {"TaskTemplate": {"ContainerSpec":
                                      task["Spec"].get("ContainerSpec") or {}}}}
    out = set()
    for kind in PAYLOAD_KINDS:
        key = "SecretID" if kind == SECRET else "ConfigID"
        out |= {(kind, r.get(key)) for r in references(spec, kind) if r.get(key)}
    return out


class Dispatcher:
    """Sessions of the nodes other than the leader (``self_id``) itself."""

    def __init__(self, control: ControlAPI, self_id: str) -> None:
        self.control = control
        self.store = control.store
        self.self_id = self_id
        self.payloads = {k: PayloadAPI(self.store, control.data_key, k) for k in PAYLOAD_KINDS}
        self._sessions: dict[str, str] = {}  # node ID → its current session ID
        self._deadline: dict[str, float] = {}  # node ID → when it is Down without news
        self._period = 1.0
        self._monitor: asyncio.Task[None] | None = None
        self.leading = False  # sessions and node-down decisions only while leading
        self.logs = LogBroker()  # its subscriptions go down the sessions

    def methods(self) -> list[Method]:
        return [Method(SESSION, self.session, NODE, stream=True),
                Method(HEARTBEAT, self.heartbeat, NODE),
                Method(UPDATE_TASK_STATUS, self.update_task_status, NODE),
                *self.logs.methods()]

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, store: Store | None = None) -> None:
        """This manager leads: it takes the sessions, and decides node-down (writing
        through ``store``, the leader's fenced view on etcd). Every node the store thinks
        up gets ``STARTUP_GRACE`` to open its session with this leader (after a leader
        restart or change), then is Down like any silent node. Managers are not
        heartbeat here: their liveness is their store session (``leader.py``)."""
        self.store = store or self.control.store
        cluster, nodes = await self.store.view(lambda tx: (tx.list("cluster")[0],
                                                           tx.list("node")))
        self._period = heartbeat_period(cluster)
        now = asyncio.get_running_loop().time()
        for node in nodes:
            if node["ID"] != self.self_id and node["Status"]["State"] != "down" and \
                    node["Spec"]["Role"] != "manager":
                self._deadline[node["ID"]] = now + max(self._period * GRACE, STARTUP_GRACE)
        self.leading = True
        self._monitor = asyncio.create_task(self._watch_heartbeats(), name="swarm-dispatcher")

    async def stop(self) -> None:
        """This manager no longer leads: sessions end (agents go to the new leader)."""
        self.leading = False
        await cancel(self._monitor)
        self._monitor = None
        self._sessions.clear()
        self._deadline.clear()

    def duty(self, store: Store) -> LeaderDuty:
        """The dispatcher's part among what the leader runs (``leader.py``)."""
        return LeaderDuty(self, store)

    def _check_leading(self) -> None:
        if not self.leading:
            raise errors.Unavailable(NOT_LEADER)

    # -- heartbeats and node-down -------------------------------------------------------

    async def heartbeat(self, call: Call, request: Any) -> Obj:
        self._check_leading()
        node_id = call.identity.node_id
        if self._sessions.get(node_id) != (request or {}).get("SessionID"):
            raise errors.NotFound("session invalid")
        self._deadline[node_id] = asyncio.get_running_loop().time() + self._period * GRACE
        return {"Period": self._period}

    async def _watch_heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        refreshed = loop.time()
        while True:
            interval = min(self._period / 4, 0.25)
            before = loop.time()
            await asyncio.sleep(interval)
            now = loop.time()
            lag = now - before - interval  # the event loop's own delay, not the store's
            try:
                if lag > self._period:
                    # This manager's loop stalled (a starved process): the heartbeats it
                    # could not read meanwhile are not the nodes' fault.
                    log.warning("swarm dispatcher: this manager stalled for %.1f s; node "
                                "deadlines moved as much", lag)
                    for node_id in self._deadline:
                        self._deadline[node_id] += lag
                for node_id, deadline in list(self._deadline.items()):
                    if deadline < now:
                        self._deadline.pop(node_id, None)
                        self._sessions.pop(node_id, None)
                        await self._mark_down(node_id)
                if now - refreshed >= PERIOD_REFRESH:  # after swarm update
                    refreshed = now
                    cluster = await self.store.view(lambda tx: tx.list("cluster")[0])
                    self._period = heartbeat_period(cluster)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("swarm dispatcher: checking heartbeats")

    async def _mark_down(self, node_id: str) -> None:
        orphaned = await self.store.update(
            lambda tx: mark_down(tx, node_id, "heartbeat failure"))
        log.warning("swarm dispatcher: node %s missed its heartbeats: down, %d task(s) "
                    "orphaned", node_id, orphaned)

    # -- sessions -----------------------------------------------------------------------

    async def session(self, call: Call, request: Any) -> AsyncIterator[Obj]:
        self._check_leading()
        node_id = call.identity.node_id
        description = (request or {}).get("Description") or {}
        if not isinstance(description, dict):
            raise errors.InvalidParameter("invalid Description: an object is expected")
        session_id = new_id()
        await self._mark_ready(node_id, description, call.addr)
        self._sessions[node_id] = session_id
        self._deadline[node_id] = asyncio.get_running_loop().time() + self._period * GRACE
        log.info("swarm dispatcher: session %s of node %s from %s", session_id[:8],
                 node_id, call.addr)
        index, snapshot = await self.store.view(self._snapshot)
        # store events, and the log broker's messages (dicts) for this node
        queue: asyncio.Queue[Any] = asyncio.Queue()
        feeder = asyncio.create_task(self._feed(queue, index))
        self.logs.attach(node_id, queue)
        sent: set[tuple[str, str]] = set()
        try:
            mine = {x["ID"]: task_refs(x) for x in snapshot["task"]
                    if x.get("NodeID") == node_id}
            payloads, _ = await self._payload_changes(mine, sent)
            snapshot.update({k: [c["Object"] for c in payloads if c["Kind"] == k]
                             for k in PAYLOAD_KINDS})
            yield {"Type": "snapshot", "SessionID": session_id, "Period": self._period,
                   "Index": index, "Objects": snapshot}
            while self._sessions.get(node_id) == session_id and self.leading:
                try:
                    async with asyncio.timeout(self._period):
                        first = await queue.get()
                except TimeoutError:
                    continue
                events = [first]
                while not queue.empty() and len(events) < MAX_BATCH:
                    events.append(queue.get_nowait())
                for message in [e for e in events if isinstance(e, dict)]:
                    yield message
                events = [e for e in events if not isinstance(e, dict)]
                changes = await self._changes(events, node_id, mine, sent) if events else []
                if changes:
                    yield {"Type": "changes", "Index": events[-1].index, "Changes": changes}
        finally:
            self.logs.detach(node_id, queue)
            await cancel(feeder)

    async def _feed(self, queue: asyncio.Queue[Event], since: int) -> None:
        async for event in self.store.watch((*STATE_KINDS, *PAYLOAD_KINDS), since=since):
            queue.put_nowait(event)

    async def _mark_ready(self, node_id: str, description: Obj, addr: str) -> None:
        cluster = await self.control.cluster()
        tls = self.control.cluster_doc(cluster, join_tokens=False)["TLSInfo"]

        def ready(tx: Tx) -> None:
            node = tx.get("node", node_id)
            if node is None:
                raise errors.Forbidden(f"node {node_id} is not a member of this swarm "
                                       "(removed)")
            node["Description"] = {**description, "TLSInfo": tls}
            node["Status"] = {"State": "ready", "Addr": node["Status"].get("Addr") or addr}
            tx.update("node", node)
        await self.store.update(ready)

    @staticmethod
    def _snapshot(tx: ReadTx) -> tuple[int, dict[str, list[Obj]]]:
        objects = {kind: [t.public(o) for o in tx.list(kind)] for kind in STATE_KINDS}
        objects["cluster"] = [scrub_cluster(c) for c in tx.list("cluster")]
        objects["node"] = tx.list("node")  # with _DataPathAddr: the data path needs it
        return tx.index, objects

    async def _changes(self, events: list[Event], node_id: str,
                       mine: dict[str, set[tuple[str, str]]],
                       sent: set[tuple[str, str]]) -> list[Obj]:
        """The changes a node sees for ``events``: payloads it newly needs first (a task
        finds its secrets there), those it no longer needs last."""
        state: list[Obj] = []
        payload_updates: list[tuple[str, str]] = []
        for event in events:
            if event.kind in PAYLOAD_KINDS:
                if (event.kind, event.id) in sent and event.action != DELETE:
                    payload_updates.append((event.kind, event.id))
                continue
            obj = event.object
            if event.kind == "task":
                if event.action != DELETE and obj.get("NodeID") == node_id:
                    mine[event.id] = task_refs(obj)
                else:
                    mine.pop(event.id, None)
            if event.kind == "cluster":
                obj = scrub_cluster(obj)
            elif event.kind != "node":
                obj = t.public(obj)
            state.append({"Kind": event.kind, "Action": event.action, "Object": obj})
        added, removed = await self._payload_changes(mine, sent, payload_updates)
        return added + state + removed

    async def _payload_changes(self, mine: dict[str, set[tuple[str, str]]],
                               sent: set[tuple[str, str]],
                               updated: list[tuple[str, str]] | None = None,
                               ) -> tuple[list[Obj], list[Obj]]:
        needed = set().union(*mine.values()) if mine else set()
        fetch = (needed - sent) | (set(updated or ()) & needed)
        gone = sent - needed
        # Most batches need no payload: no store read (a hop to a thread) on the way of
        # every task change to the node.
        objs = await self.store.view(
            lambda tx: [(k, i, tx.get(k, i)) for k, i in sorted(fetch)]) if fetch else []
        added = []
        for kind, payload_id, obj in objs:
            if obj is None:
                continue
            doc = t.public(obj)
            data = self.payloads[kind].data(doc)
            doc.pop(SEALED, None)
            doc["PlainData"] = base64.b64encode(data).decode()
            added.append({"Kind": kind, "Action": "update" if (kind, payload_id) in sent
                          else "create", "Object": doc})
            sent.add((kind, payload_id))
        removed = [{"Kind": k, "Action": DELETE, "Object": {"ID": i}} for k, i in sorted(gone)]
        sent -= gone
        return added, removed

    # -- task status --------------------------------------------------------------------

    async def update_task_status(self, call: Call, request: Any) -> Obj:
        node_id = call.identity.node_id
        updates = (request or {}).get("Updates") or []
        if not isinstance(updates, list):
            raise errors.InvalidParameter("invalid Updates: a list is expected")
        self._check_leading()
        if self._sessions.get(node_id) is None:
            raise errors.NotFound("session invalid")

        def apply(tx: Tx) -> None:
            for update in updates:
                task = tx.get("task", str(update.get("TaskID") or ""))
                status = update.get("Status")
                if task is None or not isinstance(status, dict) or \
                        task.get("NodeID") != node_id or t.has_ended(task):
                    continue  # gone, not the caller's, or already decided by the manager
                old = task["Status"]
                if t.rank(status.get("State", "")) < t.rank(old["State"]) or status == old:
                    continue
                task["Status"] = status
                tx.update("task", task)
        await self.store.update(apply)
        return {}
