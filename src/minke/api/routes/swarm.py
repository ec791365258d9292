"""Swarm endpoints: init, join, inspect, update, leave, unlock key and unlock; and the
listings of cluster objects this node can serve so far (services, tasks, secrets,
configs), which answer as dockerd does on a node that is not a manager."""

from __future__ import annotations

from aiohttp import web

from minke import errors
from minke.api import params
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.swarm.cluster import NOT_A_MANAGER, NOT_IN_SWARM, SwarmCluster

routes = Routes()


def cluster(request: web.Request) -> SwarmCluster:
    """The daemon's swarm membership; an engine without one is never in a swarm."""
    swarm = engine(request).swarm
    if swarm is None:
        raise errors.Unavailable(NOT_A_MANAGER)
    return swarm


def version_param(request: web.Request, what: str) -> int:
    """``?version=`` as dockerd parses it (an unsigned integer, required)."""
    raw = request.query.get("version", "")
    if not raw.isdigit():
        raise errors.InvalidParameter(
            f"invalid {what} version '{raw}': strconv.ParseUint: parsing \"{raw}\": "
            "invalid syntax")
    return int(raw)


@routes.post("/swarm/init")
async def init(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    return web.json_response(await cluster(request).init(body))


@routes.post("/swarm/join")
async def join(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    await cluster(request).join(body)
    return web.Response(status=200)


@routes.get("/swarm")
async def inspect(request: web.Request) -> web.Response:
    return web.json_response(await cluster(request).inspect())


@routes.post("/swarm/update")
async def update(request: web.Request) -> web.Response:
    swarm = cluster(request)
    swarm.manager()  # a locked or inactive node answers that before anything else
    version = version_param(request, "swarm")
    body = await params.json_body(request)
    await swarm.update(version, body,
                       rotate_worker=params.qbool(request, "rotateWorkerToken"),
                       rotate_manager=params.qbool(request, "rotateManagerToken"),
                       rotate_unlock=params.qbool(request, "rotateManagerUnlockKey"))
    return web.Response(status=200)


@routes.post("/swarm/leave")
async def leave(request: web.Request) -> web.Response:
    swarm = engine(request).swarm
    if swarm is None:
        raise errors.Unavailable(NOT_IN_SWARM)
    await swarm.leave(params.qbool(request, "force"))
    return web.Response(status=200)


@routes.get("/swarm/unlockkey")
async def unlock_key(request: web.Request) -> web.Response:
    return web.json_response({"UnlockKey": await cluster(request).unlock_key()})


@routes.post("/swarm/unlock")
async def unlock(request: web.Request) -> web.Response:
    body = await params.json_body(request)
    key = body.get("UnlockKey") or ""
    if not isinstance(key, str):
        raise errors.InvalidParameter("invalid UnlockKey: a string is expected")
    await cluster(request).unlock(key)
    return web.Response(status=200)


@routes.post("/swarm/store")
async def migrate_store(request: web.Request) -> web.Response:
    """minke's own: move the swarm's state from SQLite to etcd while services keep running
    (``minke swarm migrate-store``; ``swarm/storemigration.py``)."""
    from minke.swarm.storemigration import migrate

    body = await params.json_body(request)
    return web.json_response(await migrate(cluster(request), body))


# Services and tasks: routes/services.py; secrets and configs: routes/secrets.py.
