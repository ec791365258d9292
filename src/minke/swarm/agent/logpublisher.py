"""The agent's side of ``service logs`` for tasks on this node (SwarmKit's agent log
publisher): a ``logs`` message down the session (``manager/logbroker.py``) names task IDs
and ``Follow``/``Tail``/``Since``; the lines of those tasks' containers here go back to the
manager by ``PublishLogs`` in batches: the lines logged so far, then ``Done``; with
``Follow`` the new lines until the containers stop, then ``Closed``. A ``Cancel``, a
refused publish (the subscription is gone) or the session's end stops it.

Also the reading the other sides share: a node's task containers and their logs merged in
time order (the API route reads its own node's with them), and ``publish``, with which a
manager serves its own tasks' lines to the other managers (``manager/logrelay.py``)."""

from __future__ import annotations

import asyncio
import base64
import heapq
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from minke import errors
from minke.aio import cancel
from minke.engine.containers.config import readable_log
from minke.engine.network.sandbox import SWARM_TASK_LABEL as TASK_LABEL
from minke.engine.runtime import logfile
from minke.swarm.manager.logbroker import PUBLISH_LOGS
from minke.swarm.rpc import ManagerConnection

log = logging.getLogger(__name__)

BATCH = 500  # lines per PublishLogs call
FLUSH = 0.05  # seconds: followed lines within it go in one call

Reader = tuple[dict[str, Any], Path, logfile.LogReader]
Sender = Callable[..., Awaitable[None]]  # (lines, Done=, Closed=)


def task_records(containers: Any, task_ids: Iterable[str]) -> list[dict[str, Any]]:
    """This engine's containers of ``task_ids``."""
    wanted = set(task_ids)
    return [r for r in containers.all()
            if (r["Config"].get("Labels") or {}).get(TASK_LABEL) in wanted]


async def open_readers(records: list[dict[str, Any]], since: int | None,
                       tail: int | None) -> list[Reader]:
    """A reader of each record's log (those without a readable log are left out)."""
    readers = []
    for record in records:
        try:
            path = readable_log(record)
        except errors.MinkeError:
            continue
        reader = await asyncio.to_thread(logfile.LogReader, path, since_ns=since, tail=tail)
        readers.append((record, path, reader))
    return readers


async def backlog(readers: list[Reader]) -> list[tuple[int, logfile.LogRecord]]:
    """What ``readers`` hold, in time order: (index of the reader, line)."""
    batches = []
    for n, (_, _, reader) in enumerate(readers):
        got: list[tuple[int, int, int, logfile.LogRecord]] = []
        while batch := await asyncio.to_thread(reader.batch):
            got += [(rec.time_ns, n, i, rec) for i, rec in enumerate(batch, len(got))]
        batches.append(got)
    return [(n, rec) for _, n, _, rec in heapq.merge(*batches)]


def encode(record: dict[str, Any], rec: logfile.LogRecord) -> dict[str, Any]:
    return {"TaskID": (record["Config"].get("Labels") or {}).get(TASK_LABEL, ""),
            "Stream": rec.stream, "TimeNs": rec.time_ns,
            "Data": base64.b64encode(rec.data).decode()}


def decode(message: dict[str, Any]) -> logfile.LogRecord:
    return logfile.LogRecord(int(message["TimeNs"]), str(message["Stream"]),
                             base64.b64decode(message["Data"]))


class LogPublisher:
    def __init__(self, containers: Any) -> None:
        self.containers = containers  # this node's engine's
        self._running: dict[str, asyncio.Task[None]] = {}

    def handle(self, conn: ManagerConnection, message: dict[str, Any]) -> None:
        """A ``logs`` message of the session with ``conn``."""
        sub_id = str(message.get("SubscriptionID") or "")
        if message.get("Cancel"):
            task = self._running.pop(sub_id, None)
            if task is not None:
                task.cancel()
            return
        self._running[sub_id] = asyncio.create_task(self._publish(conn, sub_id, message),
                                                    name=f"swarm-logs-{sub_id[:8]}")
        self._running[sub_id].add_done_callback(
            lambda _: self._running.pop(sub_id, None))

    async def stop(self) -> None:
        """The session ended: its subscriptions with it."""
        for task in list(self._running.values()):
            await cancel(task)
        self._running.clear()

    async def _publish(self, conn: ManagerConnection, sub_id: str,
                       message: dict[str, Any]) -> None:
        async def send(lines: list[dict[str, Any]], **flags: bool) -> None:
            await conn.call(PUBLISH_LOGS, {"SubscriptionID": sub_id, "Messages": lines,
                                           **flags})
        try:
            await publish(self.containers, message, send)
        except errors.MinkeError as exc:  # the subscription is gone, or the manager
            log.debug("swarm agent: log subscription %s ends: %s", sub_id[:8], exc)


async def publish(containers: Any, message: dict[str, Any], send: Sender) -> None:
    """Send the lines of ``message``'s ``TaskIDs`` containers in ``containers`` (this
    node's engine's) by ``send``: the lines so far in batches, ``Done``, with ``Follow``
    the new lines until the containers stop, then ``Closed``. Managers serve their own
    tasks' lines with it too (``manager/logrelay.py``)."""
    since = message.get("Since")
    tail = message.get("Tail")
    records = task_records(containers, message.get("TaskIDs") or [])
    readers = await open_readers(records, int(since) if since else None,
                                 int(tail) if tail is not None else None)
    try:
        lines = [encode(readers[n][0], rec) for n, rec in await backlog(readers)]
    finally:
        for _, _, reader in readers:
            reader.close()
    for start in range(0, len(lines), BATCH):
        await send(lines[start:start + BATCH])
    await send([], Done=True)
    if message.get("Follow"):
        await _follow(containers, readers, send)
    await send([], Closed=True)


async def _follow(containers: Any, readers: list[Reader], send: Sender) -> None:
    pending: list[dict[str, Any]] = []
    more = asyncio.Event()

    async def follow_one(record: dict[str, Any], path: Path, offset: int) -> None:
        cid = record["Id"]
        async for rec in logfile.follow(
                path, offset=offset, is_running=lambda: containers.is_running(cid)):
            pending.append(encode(record, rec))
            more.set()

    followers = [asyncio.create_task(follow_one(record, path, reader.offset))
                 for record, path, reader in readers
                 if containers.is_running(record["Id"])]
    try:
        while followers or pending:
            if not pending:
                waiter = asyncio.create_task(more.wait())
                await asyncio.wait([waiter, *followers],
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                followers = [f for f in followers if not f.done()]
            await asyncio.sleep(FLUSH)
            more.clear()
            lines, pending[:] = pending[:BATCH], pending[BATCH:]
            if lines:
                await send(lines)
    finally:
        for follower in followers:
            follower.cancel()
