"""``GET /containers/{id}/stats`` (streamed or one document) and ``POST /containers/{id}/update``
(``docker update``). The documents and the limits are the engine's (``engine.cgroups``)."""

from __future__ import annotations

import contextlib

from aiohttp import web

from minke.api import params, shapes
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.api.streams import JSONLines

routes = Routes()


@routes.get("/containers/{name}/stats")
async def stats(request: web.Request) -> web.StreamResponse:
    service = engine(request).stats
    name = request.match_info["name"]
    if not params.qbool(request, "stream", True):
        one_shot = params.qbool(request, "one-shot")
        doc = await service.one_shot(name, prime=not one_shot)
        return web.json_response(doc)
    documents = service.stream(name)
    first = await anext(documents)  # a missing container is a 404, not an in-band error
    out = await JSONLines(request).start()
    try:
        await out.send(first)
        async for doc in documents:
            await out.send(doc)
    except (ConnectionResetError, ConnectionError):
        pass  # the client stopped reading: that is how a stats stream ends
    finally:
        await documents.aclose()
    with contextlib.suppress(ConnectionError):
        return await out.finish()
    return out.response


@routes.post("/containers/{name}/update")
async def update(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.CONTAINER_UPDATE)
    warnings = await engine(request).resources.update(request.match_info["name"], body)
    return web.json_response({"Warnings": warnings or None})
