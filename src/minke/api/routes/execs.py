"""Exec endpoints: create, start (hijacked), inspect, resize."""

from __future__ import annotations

from aiohttp import web

from minke.api import params, shapes
from minke.api.hijack import MULTIPLEXED_STREAM, RAW_STREAM, hijack
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.api.streaming import parse_detach_keys, pump
from minke.api.streams import STDOUT, frame
from minke.errors import MinkeError

routes = Routes()


@routes.post("/containers/{name}/exec")
async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.EXEC_CREATE)
    exec_id = engine(request).execs.create(request.match_info["name"], body)
    return web.json_response({"Id": exec_id}, status=201)


@routes.post("/exec/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    body = await params.json_body(request, shapes.EXEC_START, required=False)
    execs = engine(request).execs
    ex = execs.get(request.match_info["id"])
    detach = bool(body.get("Detach"))
    tty = bool(body.get("Tty", ex.config.get("Tty")))
    if detach:
        await execs.start(ex.id, detach=True, tty=tty)
        return web.Response(status=200)
    detach_keys = parse_detach_keys(ex.config.get("DetachKeys"))
    # Answer 101 before the process starts, as dockerd does: clients such as docker-py read
    # the headers through a buffered reader and then switch to the raw socket, so output
    # arriving in the same segment as the headers would be lost to them.
    response, conn = await hijack(request, RAW_STREAM if tty else MULTIPLEXED_STREAM)
    try:
        try:
            started = await execs.start(ex.id, detach=False, tty=tty)
        except MinkeError as exc:
            # Too late for a status code: dockerd writes the error into the stream.
            message = exc.message.encode() + b"\r\n"
            await conn.write(message if tty else frame(STDOUT, message))
            return response
        assert started.session is not None and started.session.stream is not None
        await pump(
            conn, started.session.stream, tty=tty, stdin=bool(ex.config.get("AttachStdin")),
            stdout=bool(ex.config.get("AttachStdout", True)),
            stderr=bool(ex.config.get("AttachStderr", True)), detach_keys=detach_keys,
        )
        # The CLI reads the exit code with GET /exec/{id}/json once the stream ends.
        await execs.finish(started)
    except ConnectionError:
        pass
    finally:
        conn.close()
    return response


@routes.get("/exec/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).execs.get(request.match_info["id"]).inspect())


@routes.post("/exec/{id}/resize")
async def resize(request: web.Request) -> web.Response:
    engine(request).execs.resize(
        request.match_info["id"],
        params.qint(request, "h", 0) or 0,
        params.qint(request, "w", 0) or 0,
    )
    return web.Response(status=200)
