"""Service and task endpoints of a swarm manager: create, list (filters, ``status``),
inspect (``insertDefaults``), update at a version (``rollback=previous``), remove; task
listings and inspect. The store and its reconcilers do the work
(``swarm.manager.services``)."""

from __future__ import annotations

from aiohttp import web

from minke import errors
from minke.api import params
from minke.api.keys import engine
from minke.api.routes.swarm import cluster, version_param
from minke.api.routing import Routes
from minke.swarm.manager.services import ServiceControl

routes = Routes()


def services(request: web.Request) -> ServiceControl:
    swarm = cluster(request)
    swarm.manager()  # dockerd's answer for a node that is not an (unlocked) manager
    if swarm.services is None:
        raise errors.Unavailable("swarm services are not available yet")
    control: ServiceControl = swarm.services
    return control


@routes.post("/services/create")
async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    service = await services(request).create(body)
    return web.json_response({"ID": service["ID"], "Warnings": None}, status=201)


@routes.get("/services")
async def list_services(request: web.Request) -> web.Response:
    found = await services(request).list(params.qfilters(request),
                                         status=params.qbool(request, "status"))
    return web.json_response(found)


@routes.get("/services/{id}")
async def inspect(request: web.Request) -> web.Response:
    service = await services(request).get(
        request.match_info["id"], insert_defaults=params.qbool(request, "insertDefaults"))
    # minke's extension: this node's load balancing of the service (docs/load-balancing.md);
    # Docker clients ignore a field they do not know.
    balancing = engine(request).networks.swarm
    status = balancing.balancer.status(service["ID"]) if balancing is not None else None
    if status is not None:
        service["LoadBalancer"] = status
    return web.json_response(service)


@routes.post("/services/{id}/update")
async def update(request: web.Request) -> web.Response:
    control = services(request)
    version = version_param(request, "service")
    body = await params.json_body(request)
    rollback = params.qstr(request, "rollback") or ""
    if rollback not in ("", "previous"):
        raise errors.InvalidParameter(f"unrecognized rollback option {rollback}")
    await control.update(request.match_info["id"], version, body,
                         rollback=rollback == "previous")
    return web.json_response({"Warnings": None})


@routes.delete("/services/{id}")
async def remove(request: web.Request) -> web.Response:
    await services(request).remove(request.match_info["id"])
    return web.Response(status=200)


@routes.get("/tasks")
async def list_tasks(request: web.Request) -> web.Response:
    return web.json_response(await services(request).tasks(params.qfilters(request)))


@routes.get("/tasks/{id}")
async def inspect_task(request: web.Request) -> web.Response:
    return web.json_response(await services(request).task(request.match_info["id"]))
