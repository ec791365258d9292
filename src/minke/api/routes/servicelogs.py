"""``GET /services/{id}/logs`` and ``GET /tasks/{id}/logs``: the logs of a service's (or
one task's) containers on this node, as dockerd streams them: multiplexed (raw for a TTY
service), records merged in time order, and with ``details`` each line prefixed by the
task's context (``com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,
com.docker.swarm.task.id=…``), which the docker CLI turns into ``name.slot.id@node |``.
``follow`` follows the service's running containers and, as dockerd does, those of its tasks
started later (a scale-up, a restart, an update) until the service is removed or the client
goes; a task's logs end when its container stops.

Tasks on other nodes are read on any manager, leader or not, through its log relay
(``swarm/manager/logrelay.py``): another manager is asked for its own tasks' lines, a
worker through the leader's log broker (its agent sends them by its session); a node that
does not answer within ``REMOTE_WAIT`` is skipped. With ``follow``, tasks that start on
other nodes after the request are picked up too, as the store shows them running."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from minke import errors
from minke.api import params
from minke.api.hijack import MULTIPLEXED_STREAM, RAW_STREAM
from minke.api.keys import engine
from minke.api.routes.services import services
from minke.api.routes.swarm import cluster
from minke.api.routing import Routes
from minke.api.streams import frame
from minke.engine.containers.config import readable_log
from minke.engine.runtime import logfile
from minke.swarm.agent.logpublisher import (
    TASK_LABEL,
    Reader,
    backlog,
    decode,
    open_readers,
    task_records,
)
from minke.swarm.manager import tasks as t
from minke.swarm.manager.logrelay import Feed, LogRelay
from minke.units import rfc3339

log = logging.getLogger(__name__)
routes = Routes()
REMOTE_WAIT = 5.0  # seconds for the other nodes to send what their tasks logged so far


@routes.get("/services/{id}/logs")
async def service_logs(request: web.Request) -> web.StreamResponse:
    service = await services(request).get(request.match_info["id"])
    tasks = await services(request).tasks({"service": [service["ID"]]})
    tty = bool(service["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {}).get("TTY"))
    return await _stream(request, tasks, tty, service_id=service["ID"])


@routes.get("/tasks/{id}/logs")
async def task_logs(request: web.Request) -> web.StreamResponse:
    task = await services(request).task(request.match_info["id"])
    tty = bool(task["Spec"].get("ContainerSpec", {}).get("TTY"))
    return await _stream(request, [task], tty)


def _details(record: dict[str, Any]) -> bytes:
    labels = record["Config"].get("Labels") or {}
    keys = ("com.docker.swarm.node.id", "com.docker.swarm.service.id", TASK_LABEL)
    return (",".join(f"{quote_plus(k)}={quote_plus(labels.get(k, ''))}" for k in keys)
            + " ").encode()


def _remote_record(task: dict[str, Any]) -> dict[str, Any]:
    """What ``_details`` reads of a task container on another node."""
    return {"Config": {"Labels": {"com.docker.swarm.node.id": task.get("NodeID", ""),
                                  "com.docker.swarm.service.id": task.get("ServiceID", ""),
                                  TASK_LABEL: task["ID"]}}}


async def _remote_backlog(feeds: list[Feed]) -> list[list[tuple[str, logfile.LogRecord]]]:
    """Per feed, the lines its node sent before ``Done`` (in time order), within
    ``REMOTE_WAIT`` (a node that is down gives none)."""
    out: list[list[tuple[str, logfile.LogRecord]]] = [[] for _ in feeds]

    async def collect(n: int) -> None:
        while True:
            got = await feeds[n].queue.get()
            out[n] += [(m["TaskID"], decode(m)) for m in got.get("Messages") or []]
            if got.get("Done") or got.get("Closed"):
                return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(REMOTE_WAIT):
            await asyncio.gather(*(collect(n) for n in range(len(feeds))))
    return out


Send = Callable[[dict[str, Any], logfile.LogRecord], Awaitable[None]]


@dataclass
class _Sources:
    """Where one request's lines come from: this node's task containers (``records``)
    and, through the log relay, the other nodes' (``feeds``, one per node asked)."""

    request: web.Request
    send: Send
    records: list[dict[str, Any]]
    relay: LogRelay | None
    since: int | None
    tail: int | None
    # task ID → what ``_details`` reads of a task on another node
    remote: dict[str, dict[str, Any]]
    # the tasks on other nodes whose lines are asked for (once each)
    asked: set[str] = field(default_factory=set)
    feeds: list[Feed] = field(default_factory=list)

    async def ask(self, tasks: list[dict[str, Any]], follow: bool) -> None:
        """Ask the other nodes for the lines of ``tasks``, one feed per node (none for a
        node no manager reaches now)."""
        if self.relay is None:
            return
        by_node: dict[str, list[str]] = {}
        for task in tasks:
            if task.get("NodeID") and task["NodeID"] != self.relay.node_id:
                by_node.setdefault(task["NodeID"], []).append(task["ID"])
        options = {"Follow": follow, "Tail": self.tail, "Since": self.since}
        for node, ids in by_node.items():
            self.asked.update(ids)
            try:
                feed = await self.relay.open(node, ids, options)
            except errors.MinkeError as exc:  # the store: that node's lines are left out
                log.warning("service logs: the tasks of node %s: %s", node, exc)
                continue
            if feed is not None:
                self.feeds.append(feed)

    async def close(self) -> None:
        for feed in self.feeds:  # the client went, or all is sent: the other nodes stop too
            await feed.close()

    async def send_backlog(self) -> list[Reader]:
        """Send what every source holds, merged in time order; returns this node's
        readers (closed), whose offsets ``follow`` goes on from."""
        readers = await open_readers(self.records, self.since, self.tail)
        try:
            local = await backlog(readers)
        finally:
            for _, _, reader in readers:
                reader.close()
        # each source in time order: (time, source, line number, record, line)
        sources = [[(rec.time_ns, 0, i, readers[n][0], rec)
                    for i, (n, rec) in enumerate(local)]]
        for k, lines in enumerate(await _remote_backlog(self.feeds), 1):
            sources.append([(rec.time_ns, k, i, self.remote[task_id], rec)
                            for i, (task_id, rec) in enumerate(lines)
                            if task_id in self.remote])
        for _, _, _, record, rec in heapq.merge(*sources, key=lambda entry: entry[:3]):
            await self.send(record, rec)
        return readers

    async def follow(self, readers: list[Reader], service_id: str | None,
                     asked_ns: int) -> None:
        """Send new lines until every followed container has stopped (and, for a
        service, until it is removed, taking in its tasks started meanwhile here and on
        the other nodes)."""
        async with asyncio.TaskGroup() as group:
            for record, path, reader in readers:
                if self._running(record):
                    group.create_task(self._follow_local(record, path, reader.offset))
            for feed in list(self.feeds):
                group.create_task(self._follow_remote(feed))
            if service_id is not None and self.relay is not None:
                group.create_task(self._follow_started_elsewhere(group, service_id))
            if service_id is not None:
                await self._follow_started_here(group, service_id, asked_ns)

    def _running(self, record: dict[str, Any]) -> bool:
        return bool(engine(self.request).containers.is_running(record["Id"]))

    async def _follow_local(self, record: dict[str, Any], path: Any, offset: int) -> None:
        async for rec in logfile.follow(path, offset=offset,
                                        is_running=lambda: self._running(record)):
            await self.send(record, rec)

    async def _follow_remote(self, feed: Feed) -> None:
        while True:
            got = await feed.queue.get()
            for message in got.get("Messages") or []:
                if message.get("TaskID") in self.remote:
                    await self.send(self.remote[message["TaskID"]], decode(message))
            if got.get("Closed"):
                return

    async def _follow_started_here(self, group: asyncio.TaskGroup, service_id: str,
                                   asked_ns: int) -> None:
        # all but those made and not yet started: their start is to come
        followed = {record["Id"] for record in self.records
                    if not record["State"].get("StartedAt", "").startswith("0001-")}
        async for record in _started(self.request, service_id, asked_ns):
            if record["Id"] in followed:
                continue
            followed.add(record["Id"])
            try:
                group.create_task(self._follow_local(record, readable_log(record), 0))
            except errors.MinkeError:
                continue

    async def _follow_started_elsewhere(self, group: asyncio.TaskGroup,
                                        service_id: str) -> None:
        """The service's tasks on other nodes as they start, each from its first line,
        until the service is removed."""
        assert self.relay is not None
        try:
            async for task in self.relay.started(service_id):
                if task["ID"] in self.asked:
                    continue
                self.asked.add(task["ID"])
                self.remote[task["ID"]] = _remote_record(task)
                feed = await self.relay.open(task["NodeID"], [task["ID"]],
                                             {"Follow": True, "Tail": None, "Since": None})
                if feed is not None:
                    self.feeds.append(feed)
                    group.create_task(self._follow_remote(feed))
        except errors.MinkeError as exc:  # the store: the tasks already followed go on
            log.warning("service logs: following the tasks that start on other nodes: %s",
                        exc)


async def _stream(request: web.Request, tasks: list[dict[str, Any]], tty: bool, *,
                  service_id: str | None = None) -> web.StreamResponse:
    asked_ns = time.time_ns()  # containers started from now on are picked up by ``follow``
    want_stdout, want_stderr = params.qbool(request, "stdout"), params.qbool(request, "stderr")
    if not (want_stdout or want_stderr):
        raise errors.InvalidParameter("Bad parameters: you must choose at least one stream")
    follow, timestamps = params.qbool(request, "follow"), params.qbool(request, "timestamps")
    details = params.qbool(request, "details")
    since_raw = params.qstr(request, "since")
    since = int(float(since_raw) * 1e9) if since_raw not in (None, "", "0") else None
    tail_raw = params.qstr(request, "tail") or "all"
    tail = None if tail_raw == "all" else params.qint(request, "tail")
    response = web.StreamResponse(headers={"Content-Type": RAW_STREAM if tty
                                           else MULTIPLEXED_STREAM})
    response.enable_chunked_encoding()
    await response.prepare(request)

    async def send(record: dict[str, Any], rec: logfile.LogRecord) -> None:
        kind = 1 if rec.stream == "stdout" else 2
        if (kind == 1 and not want_stdout) or (kind == 2 and not want_stderr):
            return
        data = (_details(record) if details else b"") + rec.data
        if timestamps:
            data = (rfc3339(ns=rec.time_ns) + " ").encode() + data
        await response.write(data if tty else frame(kind, data))

    sources = _Sources(request, send,
                       task_records(engine(request).containers, [x["ID"] for x in tasks]),
                       cluster(request).log_relay(), since, tail,
                       remote={x["ID"]: _remote_record(x) for x in tasks})
    if follow and service_id is not None:
        # a task not started yet is followed once the store shows it running (from its
        # first line): asking its node now could find no container yet
        tasks = [x for x in tasks if t.rank(x["Status"]["State"]) >= t.rank(t.RUNNING)]
    gone = False
    try:
        await sources.ask(tasks, follow)
        readers = await sources.send_backlog()
        if follow:
            try:
                await sources.follow(readers, service_id, asked_ns)
            except* ConnectionError:  # the client went: nothing left to send to
                gone = True
    finally:
        await sources.close()
    if not gone:
        await response.write_eof()
    return response


async def _started(request: web.Request, service_id: str,
                   since_ns: int) -> AsyncIterator[dict[str, Any]]:
    """The records of ``service_id``'s task containers started since ``since_ns`` (those
    of the past replayed, so none started during the first reads is missed), until the
    service is removed."""
    eng = engine(request)
    async for event in eng.events.stream(since_ns=since_ns,
                                         filters={"type": ["container", "service"]}):
        if event["Type"] == "service":
            if event["Action"] == "remove" and event["Actor"]["ID"] == service_id:
                return
            continue
        attrs = event["Actor"]["Attributes"]
        if event["Action"] != "start" or attrs.get("com.docker.swarm.service.id") != service_id:
            continue
        try:
            yield eng.containers.get(event["Actor"]["ID"])
        except errors.NotFound:
            continue
