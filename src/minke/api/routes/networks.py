"""Network endpoints: create, list, inspect, connect, disconnect, remove, prune."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minke.api import params, shapes
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.errors import InvalidParameter

routes = Routes()


def _container(body: dict[str, Any]) -> str:
    """The ``Container`` of a connect or disconnect body."""
    container = body.get("Container")
    if not container:
        raise InvalidParameter("Container: a container id or name is required")
    return container


@routes.post("/networks/create")
async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.NETWORK_CREATE)
    doc = await engine(request).networks.create(body)
    return web.json_response({"Id": doc["Id"], "Warning": ""}, status=201)


@routes.get("/networks")
async def list_networks(request: web.Request) -> web.Response:
    return web.json_response(engine(request).networks.list(params.qfilters(request)))


@routes.get("/networks/{name}")
async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).networks.inspect(request.match_info["name"]))


@routes.post("/networks/{name}/connect")
async def connect(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.NETWORK_CONNECT)
    container = _container(body)
    await engine(request).networks.connect(
        request.match_info["name"], container, body.get("EndpointConfig") or {})
    return web.Response(status=200)


@routes.post("/networks/{name}/disconnect")
async def disconnect(request: web.Request) -> web.Response:
    body = await params.json_body(request, shapes.NETWORK_DISCONNECT)
    container = _container(body)
    await engine(request).networks.disconnect(
        request.match_info["name"], container, bool(body.get("Force")))
    return web.Response(status=200)


@routes.delete("/networks/{name}")
async def remove(request: web.Request) -> web.Response:
    await engine(request).networks.remove(request.match_info["name"])
    return web.Response(status=204)


@routes.post("/networks/prune")
async def prune(request: web.Request) -> web.Response:
    deleted = await engine(request).networks.prune(params.qfilters(request))
    return web.json_response({"NetworksDeleted": deleted})
