"""The dashboard's window on the Docker Engine API: the API application itself, mounted
in-process under ``/docker``, with only the calls the pages make let through.

The pages read and act through the very handlers ``docker`` reaches over the socket, so
there is no second source of truth and every action is the CLI's own call (it shows in
``docker events``). Anything not listed here (exec, attach, create, build, swarm init…)
answers 404: a dashboard token is not a way to get root on the host. Who may call what
is ``auth``'s business.
"""

from __future__ import annotations

import re

from aiohttp import web

from minke.api.app import make_app
from minke.engine.engine import Engine
from minke.web.auth import Handler

PREFIX = "/docker"

# (method, path pattern of the API route, without the /vX.YY prefix)
READS = frozenset({
    ("GET", "/_ping"), ("GET", "/version"), ("GET", "/info"),
    ("GET", "/swarm"),
    ("GET", "/nodes"), ("GET", "/nodes/{id}"),
    ("GET", "/services"), ("GET", "/services/{id}"), ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"), ("GET", "/tasks/{id}"), ("GET", "/tasks/{id}/logs"),
    ("GET", "/containers/json"), ("GET", "/containers/{name}/json"),
    ("GET", "/containers/{name}/logs"), ("GET", "/containers/{name}/stats"),
    ("GET", "/images/json"), ("GET", "/networks"), ("GET", "/networks/{name}"),
    ("GET", "/volumes"),
})
ACTIONS = frozenset({
    ("POST", "/services/{id}/update"),   # scale, update image, rollback (?rollback=previous)
    ("POST", "/nodes/{id}/update"),      # drain / activate
    ("POST", "/containers/{name}/stop"),
    ("POST", "/containers/{name}/restart"),
})
ALLOWED = READS | ACTIONS
_VERSION = re.compile(r"^/\{api_version\}")


def api_route(request: web.Request) -> tuple[str, str] | None:
    """(method, API route pattern) that ``request`` matched under ``PREFIX``, or None."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    pattern = resource.canonical
    if not pattern.startswith(PREFIX + "/"):
        return None
    pattern = _VERSION.sub("", pattern[len(PREFIX):])
    return route.method, pattern


@web.middleware
async def allowlist(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Installed on the dashboard's own application, so it runs before the API's."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        matched = api_route(request)
        if matched is None or matched not in ALLOWED:
            raise web.HTTPNotFound(text='{"message": "not available from the dashboard"}',
                                   content_type="application/json")
    return await handler(request)


def mount(app: web.Application, engine: Engine) -> None:
    """Serve ``engine``'s API under ``PREFIX`` on ``app`` (``allowlist`` must be among
    ``app``'s middlewares)."""
    app.add_subapp(PREFIX, make_app(engine))
