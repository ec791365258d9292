"""``GET /services/{id}/logs`` and ``GET /tasks/{id}/logs``: the logs of a service's (or
one task's) containers on this node, as dockerd streams them: multiplexed (raw for a TTY
service), records merged in time order, and with ``details`` each line prefixed by the
task's context (``com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,
com.docker.swarm.task.id=…``), which the docker CLI turns into ``name.slot.id@node |``.
``follow`` follows the service's running containers and, as dockerd does, those of its tasks
started later (a scale-up, a restart, an update) until the service is removed or the client
goes; a task's logs end when its container stops."""

from __future__ import annotations

import asyncio
import heapq
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
from minke.api.routing import Routes
from minke.api.streams import frame
from minke.engine.containers.config import readable_log
from minke.engine.runtime import logfile
from minke.units import rfc3339

routes = Routes()
TASK_LABEL = "com.docker.swarm.task.id"


@routes.get("/services/{id}/logs")
async def service_logs(request: web.Request) -> web.StreamResponse:
    service = await services(request).get(request.match_info["id"])
    tasks = await services(request).tasks({"service": [service["ID"]]})
    tty = bool(service["Spec"].get("TaskTemplate", {}).get("ContainerSpec", {}).get("TTY"))
    return await _stream(request, [t["ID"] for t in tasks], tty, service_id=service["ID"])


@routes.get("/tasks/{id}/logs")
async def task_logs(request: web.Request) -> web.StreamResponse:
    task = await services(request).task(request.match_info["id"])
    tty = bool(task["Spec"].get("ContainerSpec", {}).get("TTY"))
    return await _stream(request, [task["ID"]], tty)


def _details(record: dict[str, Any]) -> bytes:
    labels = record["Config"].get("Labels") or {}
    keys = ("com.docker.swarm.node.id", "com.docker.swarm.service.id", TASK_LABEL)
    return (",".join(f"{quote_plus(k)}={quote_plus(labels.get(k, ''))}" for k in keys)
            + " ").encode()


async def _stream(request: web.Request, task_ids: list[str], tty: bool, *,
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
    wanted = set(task_ids)
    records = [r for r in containers.all()
               if (r["Config"].get("Labels") or {}).get(TASK_LABEL) in wanted]
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

    readers = []
    for record in records:
        try:
            path = readable_log(record)
        except errors.MinkeError:
            continue
        reader = await asyncio.to_thread(logfile.LogReader, path, since_ns=since, tail=tail)
        readers.append((record, path, reader))
    try:
        batches = []
        for n, (_, _, reader) in enumerate(readers):
            got = []
            while batch := await asyncio.to_thread(reader.batch):
                got += [(rec.time_ns, n, i, rec) for i, rec in enumerate(batch, len(got))]
            batches.append(got)
        for _, n, _, rec in heapq.merge(*batches):
            await send(readers[n][0], rec)
    finally:
        for _, _, reader in readers:
            reader.close()
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
