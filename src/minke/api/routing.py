"""Route tables for the Docker Engine API, registered with and without the ``/vX.YY`` prefix.

Each routes module builds one ``Routes`` table; ``install`` adds every entry twice, as
``/containers/json`` and ``/{version}/containers/json``, so that unversioned clients and
pinned ones reach the same handler. The version itself is checked by middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

VERSION_PREFIX = r"/{api_version:v[0-9]+\.[0-9]+}"


@dataclass
class Routes:
    """An ordered table of (method, path, handler), filled by the decorators below."""

    entries: list[tuple[str, str, Handler]] = field(default_factory=list)

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.entries.append((method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("GET", path)

    def head(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("HEAD", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("POST", path)

    def put(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("PUT", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path)


def install(app: web.Application, routes: Routes) -> None:
    for method, path, handler in routes.entries:
        for full in (path, VERSION_PREFIX + path):
            app.router.add_route(method, full, handler)
