"""The aiohttp application serving the Docker Engine API: middleware and route installation.

Middleware checks the ``/vX.YY`` prefix against the supported range, refuses a URL with a
NUL byte (``params.check_url``) and turns minke's errors into Docker's ``{"message": ...}``
bodies through ``httperrors``; routes live in ``api/routes/`` and hold no business logic.
Bodies are checked against their ``shapes`` by the one JSON reader, ``params.json_body``.
Any other exception is a bug: it stays a 500, logged with its traceback.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from minke import errors, httperrors
from minke.api import params, routing
from minke.api.keys import ENGINE
from minke.engine.engine import Engine
from minke.version import API_VERSION, MIN_API_VERSION, parse

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode() + b"\n",
        content_type="application/json",
    )


@web.middleware
async def url_middleware(request: web.Request, handler: routing.Handler) -> web.StreamResponse:
    params.check_url(request)
    return await handler(request)


@web.middleware
async def version_middleware(request: web.Request, handler: routing.Handler) -> web.StreamResponse:
    requested = request.match_info.get("api_version")
    if requested:
        version = parse(requested[1:])
        if version > parse(API_VERSION):
            return _error(
                400,
                f"client version {requested[1:]} is too new. "
                f"Maximum supported API version is {API_VERSION}",
            )
        if version < parse(MIN_API_VERSION):
            return _error(
                400,
                f"client version {requested[1:]} is too old. "
                f"Minimum supported API version is {MIN_API_VERSION}, "
                "please upgrade your client to a newer version",
            )
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: routing.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.MinkeError as exc:
        status = httperrors.to_status(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        return _error(status, exc.message)
    except web.HTTPNotFound:
        return _error(404, "page not found")
    except web.HTTPMethodNotAllowed:
        return _error(404, "page not found")  # dockerd answers 404, not 405, for a wrong method
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, f"{type(exc).__name__}: {exc}")


def make_app(engine: Engine) -> web.Application:
    from minke.api.routes import build as image_build
    from minke.api.routes import (
        buildkit,
        commit,
        container_files,
        containers,
        distribution,
        execs,
        images,
        networks,
        nodes,
        secrets,
        servicelogs,
        services,
        swarm,
        system,
        system_df,
        volumes,
    )
    from minke.api.routes import stats as container_stats

    app = web.Application(
        middlewares=[error_middleware, url_middleware, version_middleware],
        client_max_size=0,  # bodies (import, load, build contexts) are streamed, never capped
        handler_args={"max_field_size": 65536},
    )
    app[ENGINE] = engine
    for module in (system, images, containers, execs, volumes, distribution, networks,
                   container_files, commit, system_df, container_stats, image_build, buildkit,
                   swarm, nodes, secrets, services, servicelogs):
        routing.install(app, module.routes)
    return app
