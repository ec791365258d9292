"""The file endpoints of a container: archive (``docker cp`` both ways), export, changes.

Handlers parse and encode only; ``engine.containers.archive``, ``export`` and ``changes``
do the work. Errors of a GET are raised before the response starts (the stat comes
first), so they reach the client with their status.
"""

from __future__ import annotations

from aiohttp import web

from minke.api import params
from minke.api.keys import engine
from minke.api.routing import Routes
from minke.api.streams import TAR, send_tar
from minke.engine.containers.archive import ContainerArchive, encode_stat
from minke.engine.containers.changes import container_changes
from minke.engine.containers.export import export
from minke.errors import InvalidParameter

routes = Routes()

BODY_CHUNK = 1 << 16
STAT_HEADER = "X-Docker-Container-Path-Stat"


def _archive(request: web.Request) -> ContainerArchive:
    eng = engine(request)
    return ContainerArchive(containers=eng.containers, events=eng.events)


def _path(request: web.Request) -> str:
    path = params.qstr(request, "path")
    if not path:
        raise InvalidParameter("path is required: the path of a file or directory in the "
                               "container")
    return path


@routes.head("/containers/{name}/archive")
async def archive_head(request: web.Request) -> web.Response:
    doc = await _archive(request).stat(request.match_info["name"], _path(request))
    return web.Response(headers={STAT_HEADER: encode_stat(doc), "Content-Type": TAR})


@routes.get("/containers/{name}/archive")
async def archive_get(request: web.Request) -> web.StreamResponse:
    doc, chunks = await _archive(request).get(request.match_info["name"], _path(request))
    return await send_tar(request, chunks, {STAT_HEADER: encode_stat(doc)})


@routes.put("/containers/{name}/archive")
async def archive_put(request: web.Request) -> web.Response:
    await _archive(request).put(
        request.match_info["name"], _path(request), request.content.iter_chunked(BODY_CHUNK),
        no_overwrite_dir_non_dir=params.qbool(request, "noOverwriteDirNonDir"),
        copy_uid_gid=params.qbool(request, "copyUIDGID"),
    )
    return web.Response(status=200)


@routes.get("/containers/{name}/export")
async def export_container(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    chunks = await export(eng.containers, eng.events, request.match_info["name"])
    return await send_tar(request, chunks)


@routes.get("/containers/{name}/changes")
async def changes(request: web.Request) -> web.Response:
    eng = engine(request)
    record = eng.containers.get(request.match_info["name"])
    return web.json_response(await container_changes(record, eng.images) or None)
