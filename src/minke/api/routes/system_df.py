"""``GET /system/df``: disk usage of images, containers and volumes (``docker system df``)."""

from __future__ import annotations

from aiohttp import web

from minke.api.keys import engine
from minke.api.routing import Routes
from minke.engine.system_df import disk_usage

routes = Routes()


@routes.get("/system/df")
async def system_df(request: web.Request) -> web.Response:
    return web.json_response(await disk_usage(engine(request)))
