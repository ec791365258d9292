"""A worker's session with its manager (SwarmKit's ``agent/session.go``): one connection
over mutual TLS that

- opens a ``Session`` stream with the node's description and keeps the mirror
  (``mirror.py``) in step with what the stream sends;
- heartbeats at the period the manager asks for (a missed answer ends the session);
- sends the executor's task reports (``UpdateTaskStatus``) as soon as they are made: those
  made while a call is on its way go together in the next one (batched without waiting:
  a completion reaches the manager, and frees its reservation, at once), again after a
  reconnection for those that did not get through;
- hands the log subscriptions the stream carries to ``logs`` (``logpublisher.py``).

Only the leader takes sessions (other managers refuse them). Losing the manager changes
nothing on the node: its containers keep running and the executor keeps its copy; the
session retries (each known manager in turn, the last known leader first, backing off up
to ``MAX_BACKOFF``) and a new snapshot reconciles what changed meanwhile (tasks moved
away while the node was down are shut down by the executor).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from minke import errors
from minke.aio import cancel
from minke.swarm.agent.logpublisher import LogPublisher
from minke.swarm.agent.mirror import MirrorStore
from minke.swarm.manager.dispatcher import GRACE, HEARTBEAT, SESSION, UPDATE_TASK_STATUS
from minke.swarm.manager.logbroker import LOGS
from minke.swarm.rpc import ManagerConnection, NodeCredentials

log = logging.getLogger(__name__)

MIN_BACKOFF, MAX_BACKOFF = 0.2, 1.0  # seconds between attempts to reach a manager
PATIENCE = 2 * GRACE  # heartbeat periods without an answer before the session is dropped


class AgentSession:
    """Keeps this node in session with the leader among ``managers`` (``host:port``) and
    the managers the cluster state names."""

    def __init__(self, *, managers: list[str], credentials: Callable[[], NodeCredentials],
                 mirror: MirrorStore, describe: Callable[[], Awaitable[dict[str, Any]]],
                 addr: str, on_removed: Callable[[str], Awaitable[None]],
                 logs: LogPublisher | None = None) -> None:
        self.managers = managers
        self.credentials = credentials  # the current ones (renewal replaces them)
        self.mirror = mirror
        self.describe = describe
        self.addr = addr
        self.on_removed = on_removed  # the manager says this node is no longer a member
        self.logs = logs
        self.synced = asyncio.Event()  # set once a snapshot has been loaded
        self.connected = False
        self.session_id = ""
        self._known: list[str] = []  # the managers as the mirror has them, leader first
        self._task: asyncio.Task[None] | None = None

    def candidates(self) -> list[str]:
        """Where to open the next session: the leader first (as this node last saw the
        cluster), then the other managers, then those it was given at join."""
        return list(dict.fromkeys([*self._known, *self.managers]))

    async def _learn_managers(self) -> None:
        nodes = await self.mirror.view(
            lambda tx: [n for n in tx.list("node") if n.get("ManagerStatus")])
        nodes.sort(key=lambda n: (not n["ManagerStatus"].get("Leader"),
                                  n["ManagerStatus"].get("Reachability") != "reachable"))
        self._known = [n["ManagerStatus"]["Addr"] for n in nodes
                       if n["ManagerStatus"].get("Addr")]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="swarm-session")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        backoff = MIN_BACKOFF
        attempt = 0
        while True:
            candidates = self.candidates()
            addr = candidates[attempt % len(candidates)]
            attempt += 1
            try:
                await self._session(addr)
                backoff = MIN_BACKOFF
            except asyncio.CancelledError:
                raise
            except errors.Forbidden as exc:  # removed from the swarm: nothing to retry
                log.error("swarm agent: manager %s refused the session: %s", addr, exc)
                await self.on_removed(exc.message)
                return
            except errors.MinkeError as exc:
                log.warning("swarm agent: session with %s: %s", addr, exc)
            except Exception:
                log.exception("swarm agent: session with %s", addr)
            self.connected = False
            await asyncio.sleep(backoff * (1 + random.random() / 2))  # jitter: not in step
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _session(self, addr: str) -> None:
        """One session with ``addr``, until its stream ends or a heartbeat fails."""
        conn = ManagerConnection(addr, self.credentials().client_context())
        heartbeat = asyncio.get_running_loop().create_future()  # its period, once in session
        tasks = [asyncio.create_task(self._consume(conn, heartbeat)),
                 asyncio.create_task(self._heartbeat(conn, heartbeat)),
                 asyncio.create_task(self._report(conn, heartbeat))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended it
            raise errors.Unavailable(f"manager {addr} ended the session")
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, errors.MinkeError):
                    await task
            if self.logs is not None:
                await self.logs.stop()
            conn.close()

    async def _consume(self, conn: ManagerConnection, heartbeat: asyncio.Future[float]
                       ) -> None:
        request = {"Description": await self.describe(), "Addr": self.addr}
        async for message in conn.stream(SESSION, request):
            if message.get("Type") == "snapshot":
                self.session_id = message["SessionID"]
                await self.mirror.load(message["Objects"])
                await self._learn_managers()
                self.connected = True
                self.synced.set()
                log.info("swarm agent: in session %s with %s", self.session_id[:8], conn.addr)
                heartbeat.set_result(float(message["Period"]))
            elif message.get("Type") == LOGS:
                if self.logs is not None:
                    self.logs.handle(conn, message)
            elif message.get("Type") == "changes":
                await self.mirror.apply(message["Changes"])
                if any(c.get("Kind") == "node" for c in message["Changes"]):
                    await self._learn_managers()

    async def _heartbeat(self, conn: ManagerConnection, started: asyncio.Future[float]
                         ) -> None:
        """Heartbeat every period the manager gives; returns (ending the session) once
        none was answered for ``PATIENCE`` periods: twice what the manager waits before it
        takes this node for Down, since it is the manager's call; a manager slow on a
        loaded host is not a lost one, and a new session would cost it a snapshot. (A
        manager that is gone breaks the connection, which ends the session at once.)"""
        period = await started
        loop = asyncio.get_running_loop()
        answered = loop.time()
        while True:
            await asyncio.sleep(period)
            try:
                reply = await conn.call(HEARTBEAT, {"SessionID": self.session_id},
                                        timeout=period * GRACE)
            except errors.NotFound as exc:  # the manager dropped the session: a new one
                log.warning("swarm agent: heartbeat to %s: %s", conn.addr, exc)
                return
            except errors.MinkeError as exc:
                if loop.time() - answered > period * PATIENCE:
                    log.warning("swarm agent: no heartbeat answered by %s for %.1f s: %s",
                                conn.addr, loop.time() - answered, exc)
                    return
                continue
            answered = loop.time()
            period = float(reply.get("Period") or period)

    async def _report(self, conn: ManagerConnection, started: asyncio.Future[float]
                      ) -> None:
        await started
        while True:
            await self.mirror.reported.wait()
            await asyncio.sleep(0)  # reports made in the same turn of the loop join
            reports = self.mirror.take_reports()
            updates = [{"TaskID": task_id, "Status": status}
                       for task_id, status in reports.items()]
            try:
                await conn.call(UPDATE_TASK_STATUS, {"Updates": updates})
            except errors.MinkeError as exc:
                log.warning("swarm agent: reporting %d task status(es): %s", len(updates),
                            exc)
                self.mirror.return_reports(reports)
                await asyncio.sleep(MIN_BACKOFF)
            except BaseException:  # the session ends meanwhile: the next one sends them
                self.mirror.return_reports(reports)
                raise
