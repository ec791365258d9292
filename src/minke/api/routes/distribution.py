"""The registry endpoints of the Docker Engine API: ``POST /images/{name}/push``,
``GET /distribution/{name}/json``, ``POST /auth``, and the progress stream that push and
pull (``POST /images/create?fromImage=``, in ``images.py``) answer with.

Credentials come as dockerd takes them: ``X-Registry-Auth`` (base64url JSON) on push,
pull and distribution; the JSON body on ``/auth``. Handlers parse and encode only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minke.api import shapes
from minke.api.keys import engine
from minke.api.params import json_body, qstr
from minke.api.routing import Routes
from minke.api.streams import JSONLines
from minke.credentials import decode_auth_header
from minke.errors import InvalidParameter, MinkeError

routes = Routes()

Progress = Callable[[dict[str, Any]], None]


def registry_auth(request: web.Request) -> dict[str, str]:
    return decode_auth_header(request.headers.get("X-Registry-Auth", ""))


async def progress_stream(request: web.Request,
                          work: Callable[[Progress], Awaitable[object]]) -> web.StreamResponse:
    """Run ``work`` and stream the messages it reports as JSON lines. A failure before the
    first message is an ordinary error response (its status tells the client what went
    wrong, as dockerd answers an unknown tag with 404); after it, the error goes in-band.
    If the client goes away, the work is cancelled (a pull then leaves nothing behind)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.ensure_future(work(queue.put_nowait))
    out: JSONLines | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            if out is None:
                out = await JSONLines(request).start()
            await out.send(getter.result())
        while not queue.empty():
            if out is None:
                out = await JSONLines(request).start()
            await out.send(queue.get_nowait())
        exc = task.exception()
        if exc is not None:
            if out is None:
                raise exc
            await out.error(exc.message if isinstance(exc, MinkeError) else str(exc))
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if out is None:
        out = await JSONLines(request).start()
    return await out.finish()


@routes.post("/images/{name:.+}/push")
async def push(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    tag = qstr(request, "tag") or None
    images = engine(request).images
    credentials = registry_auth(request)

    async def work(progress: Progress) -> object:
        return await images.push(name, tag=tag, credentials=credentials, progress=progress)

    return await progress_stream(request, work)


@routes.get("/distribution/{name:.+}/json")
async def distribution(request: web.Request) -> web.Response:
    info = await engine(request).images.inspect_remote(request.match_info["name"],
                                                       registry_auth(request))
    return web.json_response(info)


@routes.post("/auth")
async def auth(request: web.Request) -> web.Response:
    body = await json_body(request, shapes.AUTH)
    credentials = {k.lower(): str(v) for k, v in body.items() if isinstance(v, str) and v}
    if not credentials.get("username") and not credentials.get("identitytoken"):
        raise InvalidParameter("username is required to log in")
    status = await engine(request).images.login(credentials)
    return web.json_response({"Status": status, "IdentityToken": ""})
