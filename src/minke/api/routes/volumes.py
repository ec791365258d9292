"""Volume endpoints: create, list, inspect, remove, prune."""

from __future__ import annotations

from aiohttp import web

from minke.api import params, shapes
from minke.api.keys import engine
from minke.api.routing import Routes

routes = Routes()


@routes.post("/volumes/create")
async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.VOLUME_CREATE, required=False)
    doc = engine(request).volumes.create(
        body.get("Name") or "", driver=body.get("Driver") or "",
        options=body.get("DriverOpts") or {}, labels=body.get("Labels") or {},
    )
    return web.json_response(engine(request).volumes.inspect(doc["Name"]), status=201)


@routes.get("/volumes")
async def list_volumes(request: web.Request) -> web.Response:
    volumes = engine(request).volumes.list(params.qfilters(request))
    return web.json_response({"Volumes": volumes, "Warnings": None})


@routes.post("/volumes/prune")
async def prune(request: web.Request) -> web.Response:
    return web.json_response(await engine(request).volumes.prune(params.qfilters(request)))


@routes.get("/volumes/{name}")
async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).volumes.inspect(request.match_info["name"]))


@routes.delete("/volumes/{name}")
async def remove(request: web.Request) -> web.Response:
    await engine(request).volumes.remove(
        request.match_info["name"], force=params.qbool(request, "force"))
    return web.Response(status=204)
