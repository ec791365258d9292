"""Secret and config endpoints (``/secrets/...``, ``/configs/...``): create, list with
dockerd's filters, inspect by ID, name or ID prefix, update (labels only) and remove, on a
swarm manager; any other node answers as dockerd does (503)."""

from __future__ import annotations

from aiohttp import web

from minke import errors
from minke.api import params
from minke.api.routes.swarm import cluster
from minke.api.routing import Routes
from minke.swarm.manager.secrets import CONFIG, SECRET, PayloadAPI

routes = Routes()


def _api(request: web.Request, kind: str) -> PayloadAPI:
    control = cluster(request).manager()
    return PayloadAPI(control.store, control.data_key, kind)


def _version(request: web.Request, kind: str) -> int:
    """``?version=`` as dockerd's secret and config routes parse it."""
    raw = request.query.get("version", "")
    if not raw.isdigit():
        raise errors.InvalidParameter(f"invalid {kind} version")
    return int(raw)


def _install(kind: str) -> None:
    base = f"/{kind}s"

    async def create(request: web.Request) -> web.Response:
        api = _api(request, kind)
        body = await params.json_body(request)
        return web.json_response({"ID": await api.create(body)}, status=201)

    async def listing(request: web.Request) -> web.Response:
        api = _api(request, kind)
        return web.json_response(await api.list(params.qfilters(request)))

    async def inspect(request: web.Request) -> web.Response:
        return web.json_response(await _api(request, kind).get(request.match_info["id"]))

    async def update(request: web.Request) -> web.Response:
        api = _api(request, kind)
        body = await params.json_body(request)
        await api.update(request.match_info["id"], _version(request, kind), body)
        return web.Response(status=200)

    async def remove(request: web.Request) -> web.Response:
        await _api(request, kind).remove(request.match_info["id"])
        return web.Response(status=204)

    routes.post(f"{base}/create")(create)
    routes.get(base)(listing)
    routes.get(f"{base}/{{id}}")(inspect)
    routes.post(f"{base}/{{id}}/update")(update)
    routes.delete(f"{base}/{{id}}")(remove)


_install(SECRET)
_install(CONFIG)
