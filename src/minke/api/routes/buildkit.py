"""``POST /session`` and ``POST /grpc``: BuildKit's API, as dockerd exposes it; and
``POST /build?version=2`` (the docker CLI's own BuildKit mode), which ``routes/build.py``
hands over here.

``/session`` and ``/grpc`` answer ``101 Switching Protocols`` to ``Upgrade: h2c`` and then
speak HTTP/2 on the connection: on ``/grpc`` minked serves BuildKit's control and gateway
APIs; on ``/session`` the client serves its session (file sync, secrets) and minked calls
it. The work is in ``minke.buildkit`` (imported on first use: gRPC and protobuf stay off
the daemon's start-up); these handlers only take the connection.
"""

from __future__ import annotations

import base64
import secrets
import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from minke.api.keys import engine
from minke.api.params import qstr
from minke.api.routing import Routes
from minke.api.streams import JSONLines
from minke.engine.build.builder import BuildOptions
from minke.engine.images.reference import parse as parse_ref
from minke.errors import InvalidParameter, MinkeError

if TYPE_CHECKING:
    from minke.buildkit.control import Controller

routes = Routes()

UPGRADE = "h2c"
_controllers: weakref.WeakKeyDictionary[object, Controller] = weakref.WeakKeyDictionary()


def controller(request: web.Request) -> Controller:
    from minke.buildkit.control import Controller

    eng = engine(request)
    found = _controllers.get(eng)
    if found is None:
        found = _controllers[eng] = Controller(eng)
    return found


def _check_upgrade(request: web.Request) -> None:
    if request.headers.get("Upgrade", "").lower() != UPGRADE:
        raise InvalidParameter(f"{request.path} needs 'Upgrade: {UPGRADE}' (HTTP/2)")


@routes.post("/grpc")
async def grpc(request: web.Request) -> web.StreamResponse:
    from minke.buildkit import h2

    _check_upgrade(request)
    return await h2.serve(request, controller(request).server())


@routes.post("/session")
async def session(request: web.Request) -> web.StreamResponse:
    from minke.buildkit import h2
    from minke.buildkit import session as sessions

    _check_upgrade(request)
    session_id = request.headers.get(sessions.HEADER_ID, "")
    if not session_id:
        raise InvalidParameter(f"a session needs the {sessions.HEADER_ID} header")
    manager = controller(request).sessions
    response, channel = await h2.client_session(request)
    found = sessions.Session(
        id=session_id,
        name=request.headers.get(sessions.HEADER_NAME, ""),
        shared_key=request.headers.get(sessions.HEADER_SHARED_KEY, ""),
        methods=set(request.headers.getall(sessions.HEADER_METHOD, [])),
        channel=channel,
    )
    await manager.add(found)
    try:
        await channel.wait_closed()
    finally:
        await manager.remove(found)
        channel.close()
    return response


async def build_v2(request: web.Request, options: BuildOptions) -> web.StreamResponse:
    """``POST /build?version=2`` (the docker CLI's own BuildKit mode, before buildx): the
    files come through the session named by ``session``; progress goes out as JSON lines
    ``{"id": "moby.buildkit.trace", "aux": <base64 StatusResponse>}``, the result as
    ``{"id": "moby.image.id", "aux": {"ID": ...}}``."""
    from minke.buildkit.frontend import attrs_from
    from minke.buildkit.session import stream_errors

    session_id = qstr(request, "session") or ""
    if not session_id:
        raise InvalidParameter("a version=2 build needs its client session (session=)")
    for tag in options.tags:
        parse_ref(tag)  # "invalid reference format" before anything runs
    build_id = qstr(request, "buildid") or secrets.token_hex(12)
    job, task = await controller(request).build_session(
        build_id, session_id, attrs_from(options), options.tags)
    try:
        lines = await JSONLines(request).start()
        async for item in job.feed.follow():
            trace = base64.b64encode(item.SerializeToString()).decode()
            await lines.send({"id": "moby.buildkit.trace", "aux": trace})
    except BaseException:
        task.cancel()  # the client went away: so does its build
        raise
    try:
        image_id = await task
    except (MinkeError, *stream_errors()) as exc:
        await lines.error(getattr(exc, "message", "") or str(exc))
    else:
        await lines.send({"id": "moby.image.id", "aux": {"ID": image_id}})
        if options.quiet:  # what `docker build -q` prints, as dockerd sends it
            await lines.send({"stream": image_id + "\n"})
    return await lines.finish()
