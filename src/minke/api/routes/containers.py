"""Container endpoints: create, list, inspect, start, stop, kill, wait, attach, logs, ..."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable

from aiohttp import web

from minke.api import params, shapes
from minke.api.hijack import MULTIPLEXED_STREAM, RAW_STREAM, HijackedConnection, hijack
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.api.streaming import parse_detach_keys, pump
from minke.api.streams import frame
from minke.engine.containers.config import log_file, readable_log
from minke.engine.containers.prune import prune as prune_containers
from minke.engine.runtime import AttachStream, logfile
from minke.errors import InvalidParameter
from minke.units import rfc3339

routes = Routes()


@routes.post("/containers/create")
async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.CONTAINER_CREATE)
    name = params.qstr(request, "name")
    record = await engine(request).containers.create(body, name=name or None)
    return web.json_response({"Id": record["Id"], "Warnings": []}, status=201)


@routes.get("/containers/json")
async def list_containers(request: web.Request) -> web.Response:
    limit = params.qint(request, "limit")
    result = engine(request).containers.list(
        all=params.qbool(request, "all"), filters=params.qfilters(request),
        limit=limit if limit and limit > 0 else None,
    )
    if params.qbool(request, "latest") or params.qint(request, "last", -1) == 1:
        result = result[:1]
    return web.json_response(result)


@routes.get("/containers/{name}/json")
async def inspect(request: web.Request) -> web.Response:
    record = engine(request).containers.inspect(request.match_info["name"])
    return web.json_response(record)


@routes.post("/containers/{name}/start")
async def start(request: web.Request) -> web.Response:
    if params.qstr(request, "checkpoint"):
        raise InvalidParameter("checkpoints are not supported")
    await engine(request).containers.start(request.match_info["name"])
    return web.Response(status=204)


@routes.post("/containers/{name}/stop")
async def stop(request: web.Request) -> web.Response:
    await engine(request).containers.stop(
        request.match_info["name"], params.qint(request, "t"), params.qstr(request, "signal")
    )
    return web.Response(status=204)


@routes.post("/containers/{name}/restart")
async def restart(request: web.Request) -> web.Response:
    await engine(request).containers.restart(request.match_info["name"], params.qint(request, "t"))
    return web.Response(status=204)


@routes.post("/containers/{name}/kill")
async def kill(request: web.Request) -> web.Response:
    await engine(request).containers.kill(
        request.match_info["name"], params.qstr(request, "signal")
    )
    return web.Response(status=204)


@routes.post("/containers/{name}/pause")
async def pause(request: web.Request) -> web.Response:
    await engine(request).containers.pause(request.match_info["name"])
    return web.Response(status=204)


@routes.post("/containers/{name}/unpause")
async def unpause(request: web.Request) -> web.Response:
    await engine(request).containers.unpause(request.match_info["name"])
    return web.Response(status=204)


@routes.post("/containers/{name}/rename")
async def rename(request: web.Request) -> web.Response:
    new_name = params.qstr(request, "name")
    if not new_name:
        raise InvalidParameter("name cannot be empty")
    engine(request).containers.rename(request.match_info["name"], new_name)
    return web.Response(status=204)


@routes.post("/containers/{name}/resize")
async def resize(request: web.Request) -> web.Response:
    engine(request).containers.resize(
        request.match_info["name"], params.qint(request, "h", 0) or 0,
        params.qint(request, "w", 0) or 0,
    )
    return web.Response(status=200)


@routes.delete("/containers/{name}")
async def remove(request: web.Request) -> web.Response:
    await engine(request).containers.remove(
        request.match_info["name"], force=params.qbool(request, "force"),
        remove_volumes=params.qbool(request, "v"),
    )
    return web.Response(status=204)


@routes.post("/containers/prune")
async def prune(request: web.Request) -> web.Response:
    eng = engine(request)
    return web.json_response(
        await prune_containers(eng.containers, eng.events, params.qfilters(request)))


@routes.post("/containers/{name}/wait")
async def wait(request: web.Request) -> web.StreamResponse:
    condition = params.qstr(request, "condition") or "not-running"
    future = engine(request).containers.wait_future(request.match_info["name"], condition)
    # Headers go out at once: the docker CLI waits for them before it sends `start`.
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    record = await future
    state = record["State"]
    body = {"StatusCode": state["ExitCode"], "Error": None}
    if state.get("Error"):
        body["Error"] = {"Message": state["Error"]}
    await response.write(json.dumps(body).encode() + b"\n")
    await response.write_eof()
    return response


@routes.get("/containers/{name}/top")
async def top(request: web.Request) -> web.Response:
    result = await engine(request).containers.top(
        request.match_info["name"], params.qstr(request, "ps_args") or "-ef"
    )
    return web.json_response(result)


@routes.post("/containers/{name}/attach")
async def attach(request: web.Request) -> web.StreamResponse:
    containers = engine(request).containers
    record = containers.get(request.match_info["name"])
    tty = bool(record["Config"].get("Tty"))
    want_stdin = params.qbool(request, "stdin")
    want_stdout = params.qbool(request, "stdout")
    want_stderr = params.qbool(request, "stderr")
    detach_keys = parse_detach_keys(params.qstr(request, "detachKeys"))
    attachment = await containers.attach(record["Id"]) if params.qbool(request, "stream") else None
    response, conn = await hijack(request, RAW_STREAM if tty else MULTIPLEXED_STREAM)
    try:
        log_path = log_file(record)  # None with --log-driver none: nothing to replay
        if params.qbool(request, "logs") and log_path is not None:
            records, _ = await asyncio.to_thread(logfile.read_records, log_path)
            for rec in records:
                kind = 1 if rec.stream == "stdout" else 2
                if (kind == 1 and want_stdout) or (kind == 2 and want_stderr):
                    await conn.write(rec.data if tty else frame(kind, rec.data))
        if attachment is not None:
            stream = await _until_closed(conn, attachment.stream())
            if stream is not None:
                await pump(
                    conn, stream, tty=tty, stdin=want_stdin, stdout=want_stdout,
                    stderr=want_stderr, detach_keys=detach_keys,
                )
    except ConnectionError:
        pass
    finally:
        if attachment is not None:
            attachment.cancel()
        conn.close()
    return response


async def _until_closed(
    conn: HijackedConnection, waiting: Awaitable[AttachStream | None]
) -> AttachStream | None:
    """What ``waiting`` gives, or None once the client hung up while it waited (an attach
    to a container that is never started must not hold its handler forever)."""
    task = asyncio.ensure_future(waiting)
    closed = asyncio.ensure_future(conn.closed.wait())
    await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
    closed.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None


def _since(raw: str | None, name: str) -> int | None:
    if raw is None or raw in ("", "0"):
        return None
    try:
        return int(float(raw) * 1_000_000_000)
    except (ValueError, OverflowError):  # not a number; inf
        raise InvalidParameter(f"invalid value for {name}: {raw!r}") from None


def _timestamp(ns: int) -> bytes:
    return (rfc3339(ns=ns) + " ").encode()


@routes.get("/containers/{name}/logs")
async def logs(request: web.Request) -> web.StreamResponse:
    containers = engine(request).containers
    record = containers.get(request.match_info["name"])
    want_stdout = params.qbool(request, "stdout")
    want_stderr = params.qbool(request, "stderr")
    if not (want_stdout or want_stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    follow = params.qbool(request, "follow")
    timestamps = params.qbool(request, "timestamps")
    since = _since(params.qstr(request, "since"), "since")
    until = _since(params.qstr(request, "until"), "until")
    tail_raw = params.qstr(request, "tail") or "all"
    tail = None if tail_raw == "all" else params.qint(request, "tail")
    if tail is not None and tail < 0:
        tail = None
    tty = bool(record["Config"].get("Tty"))
    log_path = readable_log(record)
    reader = await asyncio.to_thread(
        logfile.LogReader, log_path, since_ns=since, until_ns=until, tail=tail
    )
    response = web.StreamResponse(
        headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)

    async def send(rec: logfile.LogRecord) -> None:
        kind = 1 if rec.stream == "stdout" else 2
        if (kind == 1 and not want_stdout) or (kind == 2 and not want_stderr):
            return
        data = (_timestamp(rec.time_ns) + rec.data) if timestamps else rec.data
        await response.write(data if tty else frame(kind, data))

    try:
        while batch := await asyncio.to_thread(reader.batch):
            for rec in batch:
                await send(rec)
    finally:
        reader.close()
    if follow and until is None and record["State"]["Running"]:
        cid = record["Id"]
        async for rec in logfile.follow(
            log_path, offset=reader.offset, is_running=lambda: containers.is_running(cid)
        ):
            await send(rec)
    await response.write_eof()
    return response

