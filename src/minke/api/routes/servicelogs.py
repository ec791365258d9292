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
from collections.abc import AsyncIterator
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


async def _open_feeds(relay: LogRelay | None, tasks: list[dict[str, Any]],
                      options: dict[str, Any], feeds: list[Feed]) -> None:
    """Add to ``feeds`` the lines of ``tasks`` on other nodes, one feed per node (none
    for a node no manager reaches now)."""
    if relay is None:
        return
    by_node: dict[str, list[str]] = {}
    for task in tasks:
        if task.get("NodeID") and task["NodeID"] != relay.node_id:
            by_node.setdefault(task["NodeID"], []).append(task["ID"])
    for node, ids in by_node.items():
        try:
            feed = await relay.open(node, ids, options)
        except errors.MinkeError as exc:  # the store: that node's lines are left out
            log.warning("service logs: the tasks of node %s: %s", node, exc)
            continue
        if feed is not None:
            feeds.append(feed)


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


async def _stream(request: web.Request, tasks: list[dict[str, Any]], tty: bool, *,
                  service_id: str | None = None) -> web.StreamResponse:
    containers = engine(request).containers
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
    records = task_records(containers, [t["ID"] for t in tasks])
    remote = {t["ID"]: _remote_record(t) for t in tasks}
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

    relay = cluster(request).log_relay()
    if follow and service_id is not None:
        # a task not started yet is followed once the store shows it running (from its
        # first line): asking its node now could find no container yet
        tasks = [x for x in tasks if t.rank(x["Status"]["State"]) >= t.rank(t.RUNNING)]
    feeds: list[Feed] = []  # the lines of tasks on other nodes
    try:
        await _open_feeds(relay, tasks, {"Follow": follow, "Tail": tail, "Since": since},
                          feeds)
        return await _send_all(request, response, send, records, relay, feeds,
                               {x["ID"] for x in tasks}, remote, since, tail, follow,
                               service_id, asked_ns)
    finally:
        for feed in feeds:  # the client went, or all is sent: the other nodes stop too
            await feed.close()


async def _send_all(request: web.Request, response: web.StreamResponse, send: Any,
                    records: list[dict[str, Any]], relay: LogRelay | None,
                    feeds: list[Feed], remote_followed: set[str],
                    remote: dict[str, dict[str, Any]], since: int | None,
                    tail: int | None, follow: bool, service_id: str | None, asked_ns: int
                    ) -> web.StreamResponse:
    containers = engine(request).containers
    readers = await open_readers(records, since, tail)
    try:
        local = await backlog(readers)
    finally:
        for _, _, reader in readers:
            reader.close()
    # each source in time order: (time, source, line number, record, line)
    sources = [[(rec.time_ns, 0, i, readers[n][0], rec) for i, (n, rec) in enumerate(local)]]
    for k, lines in enumerate(await _remote_backlog(feeds), 1):
        sources.append([(rec.time_ns, k, i, remote[task_id], rec)
                        for i, (task_id, rec) in enumerate(lines) if task_id in remote])
    for _, _, _, record, rec in heapq.merge(*sources, key=lambda entry: entry[:3]):
        await send(record, rec)

    async def follow_remote(feed: Feed) -> None:
        while True:
            got = await feed.queue.get()
            for message in got.get("Messages") or []:
                if message.get("TaskID") in remote:
                    await send(remote[message["TaskID"]], decode(message))
            if got.get("Closed"):
                return

    async def follow_started(group: asyncio.TaskGroup, relay: LogRelay,
                             service_id: str) -> None:
        """Follow the service's tasks on other nodes as they start, each from its first
        line, until the service is removed."""
        try:
            async for task in relay.started(service_id):
                if task["ID"] in remote_followed:
                    continue
                remote_followed.add(task["ID"])
                remote[task["ID"]] = _remote_record(task)
                feed = await relay.open(task["NodeID"], [task["ID"]],
                                        {"Follow": True, "Tail": None, "Since": None})
                if feed is not None:
                    feeds.append(feed)
                    group.create_task(follow_remote(feed))
        except errors.MinkeError as exc:  # the store: the tasks already followed go on
            log.warning("service logs: following the tasks that start on other nodes: %s",
                        exc)
    gone = False
    if follow:
        async def follow_one(record: dict[str, Any], path: Any, offset: int) -> None:
            cid = record["Id"]
            async for rec in logfile.follow(path, offset=offset,
                                            is_running=lambda: containers.is_running(cid)):
                await send(record, rec)
        try:
            async with asyncio.TaskGroup() as group:
                for record, path, reader in readers:
                    if containers.is_running(record["Id"]):
                        group.create_task(follow_one(record, path, reader.offset))
                for feed in list(feeds):
                    group.create_task(follow_remote(feed))
                if service_id is not None and relay is not None:
                    group.create_task(follow_started(group, relay, service_id))
                if service_id is not None:
                    # all but those made and not yet started: their start is to come
                    followed = {record["Id"] for record in records if not record["State"].get(
                        "StartedAt", "").startswith("0001-")}
                    async for record in _started(request, service_id, asked_ns):
                        if record["Id"] in followed:
                            continue
                        followed.add(record["Id"])
                        try:
                            group.create_task(follow_one(record, readable_log(record), 0))
                        except errors.MinkeError:
                            continue
        except* ConnectionError:  # the client went: nothing left to send to
            gone = True
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
