"""``POST /build`` (the classic builder's protocol, ``version=1``; ``version=2`` is BuildKit's,
served by ``routes/buildkit.py``) and ``POST /build/prune``.

Handlers parse and encode only; ``engine(request).builder`` does the work. The response is
a chunked JSON stream opened at the builder's first document: an error before it (a bad
Dockerfile, a missing one, a bad parameter) is a plain status with ``{"message": ...}``, as
dockerd answers; after it, errors go in-band.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minke.api.keys import engine
from minke.api.params import decode_json, qbool, qstr
from minke.api.routing import Routes
from minke.api.streams import JSONLines
from minke.engine.build.builder import BuildOptions
from minke.engine.build.output import BuildOutput
from minke.errors import InvalidParameter, MinkeError, NotSupported

routes = Routes()

BODY_CHUNK = 1 << 16  # bytes per read of the streamed context


def _json_map(request: web.Request, name: str) -> dict[str, Any]:
    raw = qstr(request, name)
    if not raw:
        return {}
    value = decode_json(raw, f"invalid {name}")
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid {name}: expected a JSON object")
    return value


def options_from(request: web.Request) -> BuildOptions:
    version = qstr(request, "version") or "1"
    if version not in ("1", "2"):
        raise NotSupported(f"builder version {version} is not supported (1 and 2 are)")
    build_args = _json_map(request, "buildargs")
    labels = _json_map(request, "labels")
    return BuildOptions(
        dockerfile=qstr(request, "dockerfile") or "Dockerfile",
        tags=[t for t in request.query.getall("t", []) if t],
        build_args={str(k): (None if v is None else str(v)) for k, v in build_args.items()},
        target=qstr(request, "target") or "",
        no_cache=qbool(request, "nocache"),
        pull=qbool(request, "pull"),
        labels={str(k): str(v) for k, v in labels.items()},
        quiet=qbool(request, "q"),
        network=qstr(request, "networkmode") or "default",
        platform=qstr(request, "platform") or "",
    )


@routes.post("/build")
async def build(request: web.Request) -> web.StreamResponse:
    options = options_from(request)
    if qstr(request, "version") == "2":  # BuildKit's: the context comes through a session
        from minke.api.routes.buildkit import build_v2

        return await build_v2(request, options)
    remote = qstr(request, "remote") or ""
    lines = JSONLines(request)
    started = False

    async def send(doc: dict[str, Any]) -> None:
        nonlocal started
        if not started:
            await lines.start()
            started = True
        await lines.send(doc)

    out = BuildOutput(send, quiet=options.quiet)
    try:
        await engine(request).builder.build(
            request.content.iter_chunked(BODY_CHUNK), options, out, remote=remote
        )
    except MinkeError as exc:
        if not started:
            raise
        await out.error(exc.message, getattr(exc, "code", None))
    return await lines.finish()


@routes.post("/build/prune")
async def prune(request: web.Request) -> web.Response:
    return web.json_response(engine(request).builder.prune())
