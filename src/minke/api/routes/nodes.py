"""Node endpoints: list (with dockerd's filters), inspect (by ID, name or ID prefix),
update (availability, labels, role) and remove."""

from __future__ import annotations

from aiohttp import web

from minke.api import params
from minke.api.routes.swarm import cluster, version_param
from minke.api.routing import Routes

routes = Routes()


@routes.get("/nodes")
async def list_nodes(request: web.Request) -> web.Response:
    control = cluster(request).manager()
    return web.json_response(await control.nodes(params.qfilters(request)))


@routes.get("/nodes/{id}")
async def inspect(request: web.Request) -> web.Response:
    control = cluster(request).manager()
    return web.json_response(await control.node(request.match_info["id"]))


@routes.post("/nodes/{id}/update")
async def update(request: web.Request) -> web.Response:
    control = cluster(request).manager()
    version = version_param(request, "node")
    body = await params.json_body(request)
    await control.update_node(request.match_info["id"], version, body)
    return web.Response(status=200)


@routes.delete("/nodes/{id}")
async def remove(request: web.Request) -> web.Response:
    control = cluster(request).manager()
    await control.remove_node(request.match_info["id"], force=params.qbool(request, "force"))
    return web.Response(status=200)
