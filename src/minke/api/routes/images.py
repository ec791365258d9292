"""The image endpoints of the Docker Engine API: create (import, and pull through the
registry client with Docker's progress stream),
load, get (save), list, inspect, history, tag, delete and prune.

Handlers parse and encode only; ``engine(request).images`` (``ImageService``) does the work.
Image names in paths may hold slashes (``/images/localhost:5000/a/b:t/json``), hence the
``{name:.+}`` patterns, registered after the fixed paths so that those win.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from minke.api.keys import engine
from minke.api.params import qbool, qfilters, qstr
from minke.api.routes.distribution import Progress, progress_stream, registry_auth
from minke.api.routing import Routes
from minke.api.streams import JSONLines, send_tar
from minke.errors import InvalidParameter, MinkeError, NotSupported

routes = Routes()

BODY_CHUNK = 1 << 16  # bytes per read of a streamed request body


def _body(request: web.Request) -> AsyncIterator[bytes]:
    return request.content.iter_chunked(BODY_CHUNK)


@routes.post("/images/create")
async def create(request: web.Request) -> web.StreamResponse:
    from_image = qstr(request, "fromImage")
    from_src = qstr(request, "fromSrc")
    tag = qstr(request, "tag") or None
    if from_image:
        images = engine(request).images
        credentials = registry_auth(request)
        platform = qstr(request, "platform") or None

        async def work(progress: Progress) -> object:
            return await images.pull(from_image, tag=tag, platform=platform,
                                     credentials=credentials, progress=progress)

        return await progress_stream(request, work)
    if from_src is None:
        raise InvalidParameter("either fromImage or fromSrc is required")
    if from_src != "-":
        raise NotSupported("importing from a URL is not supported; send the archive as the body")
    image_id = await engine(request).images.import_rootfs(
        _body(request),
        repo=qstr(request, "repo") or None,
        tag=tag,
        changes=request.query.getall("changes", []),
        message=qstr(request, "message") or "",
    )
    out = await JSONLines(request).start()
    await out.send({"status": image_id})
    return await out.finish()


@routes.post("/images/load")
async def load(request: web.Request) -> web.StreamResponse:
    qbool(request, "quiet")  # validated; there is no progress output to suppress
    try:
        lines = await engine(request).images.load(_body(request))
    except MinkeError as exc:
        # Docker answers 200 and reports a failed load in the stream, quiet or not;
        # docker-py raises ImageLoadError from that line, the docker CLI prints it.
        out = await JSONLines(request).start()
        await out.error(exc.message)
        return await out.finish()
    out = await JSONLines(request).start()
    for line in lines:
        await out.send({"stream": line + "\n"})
    return await out.finish()


async def _send_archive(request: web.Request, names: list[str]) -> web.StreamResponse:
    # Unknown names fail here, before the headers; ?format=oci is minke's (save --format oci).
    chunks = engine(request).images.save(names, format=qstr(request, "format") or "docker")
    return await send_tar(request, chunks)


@routes.get("/images/get")
async def get_many(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if not names:
        raise InvalidParameter("no image names given")
    return await _send_archive(request, names)


@routes.get("/images/json")
async def list_images(request: web.Request) -> web.Response:
    filters = qfilters(request)
    legacy = qstr(request, "filter")  # API < 1.41 clients send ?filter=<reference>
    if legacy:
        filters.setdefault("reference", []).append(legacy)
    images = engine(request).images.list(
        all=qbool(request, "all"), filters=filters, digests=qbool(request, "digests")
    )
    return web.json_response(images)


@routes.post("/images/prune")
async def prune(request: web.Request) -> web.Response:
    return web.json_response(engine(request).images.prune(filters=qfilters(request)))


@routes.get("/images/{name:.+}/json")
async def inspect(request: web.Request) -> web.Response:
    return web.json_response(engine(request).images.inspect(request.match_info["name"]))


@routes.get("/images/{name:.+}/history")
async def history(request: web.Request) -> web.Response:
    return web.json_response(engine(request).images.history(request.match_info["name"]))


@routes.get("/images/{name:.+}/get")
async def get_one(request: web.Request) -> web.StreamResponse:
    return await _send_archive(request, [request.match_info["name"]])


@routes.post("/images/{name:.+}/tag")
async def tag(request: web.Request) -> web.Response:
    repo = qstr(request, "repo") or ""
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    engine(request).images.tag(request.match_info["name"], repo, qstr(request, "tag") or None)
    return web.Response(status=201)


@routes.delete("/images/{name:.+}")
async def delete(request: web.Request) -> web.Response:
    records = engine(request).images.delete(
        request.match_info["name"],
        force=qbool(request, "force"),
        noprune=qbool(request, "noprune"),
    )
    return web.json_response(records)
