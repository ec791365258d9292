"""``POST /commit``: a container's changes as a new image (``docker commit``)."""

from __future__ import annotations

from aiohttp import web

from minke.api import params, shapes
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.engine.containers.commit import commit as commit_container
from minke.errors import InvalidParameter

routes = Routes()


@routes.post("/commit")
async def commit(request: web.Request) -> web.Response:
    container = params.qstr(request, "container")
    if not container:
        raise InvalidParameter("container is required: the container to commit")
    body = await params.json_body(request, shapes.COMMIT, required=False)
    eng = engine(request)
    image_id = await commit_container(
        eng.containers, eng.images, eng.events, container,
        repo=params.qstr(request, "repo") or "", tag=params.qstr(request, "tag") or "",
        author=params.qstr(request, "author") or "",
        comment=params.qstr(request, "comment") or "",
        changes=request.query.getall("changes", []), config=body or None,
        pause=params.qbool(request, "pause", True),
    )
    return web.json_response({"Id": image_id}, status=201)
