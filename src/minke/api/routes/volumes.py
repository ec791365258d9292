"""Volume endpoints: create, list, inspect, remove, prune."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minke.api import params
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.errors import InvalidParameter

routes = Routes()


def _str_map(body: dict[str, Any], field: str) -> dict[str, str]:
    value = body.get(field) or {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid value for {field}: expected an object of strings")
    return {str(k): str(v) for k, v in value.items()}


@routes.post("/volumes/create")
async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request, required=False)
    name = body.get("Name") or ""
    if not isinstance(name, str):
        raise InvalidParameter("invalid value for Name: expected a string")
    doc = engine(request).volumes.create(
        name, driver=str(body.get("Driver") or ""), options=_str_map(body, "DriverOpts"),
        labels=_str_map(body, "Labels"),
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
