"""The API gateway: what the pages may call exists in the API, and nothing else passes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minke.api.app import make_app
from minke.web import gateway


def api_patterns() -> set[tuple[str, str]]:
    app = make_app(None)  # type: ignore[arg-type]
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None}


def test_every_allowed_call_is_an_api_route() -> None:
    assert gateway.ALLOWED <= api_patterns()


def test_actions_are_the_clis_calls_only() -> None:
    assert all(method == "GET" for method, _ in gateway.READS)
    assert {path for _, path in gateway.ACTIONS} == {
        "/services/{id}/update", "/nodes/{id}/update", "/containers/{name}/stop",
        "/containers/{name}/restart"}


async def test_other_api_calls_are_not_found() -> None:
    app = web.Application(middlewares=[gateway.allowlist])
    gateway.mount(app, None)  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as c:
        for method, path in (("POST", "/docker/containers/create"),
                             ("POST", "/docker/v1.41/containers/x/exec"),
                             ("POST", "/docker/swarm/init"), ("GET", "/docker/nope"),
                             ("DELETE", "/docker/services/x")):
            response = await c.request(method, path)
            assert response.status == 404, (method, path)
            assert "not available from the dashboard" in (await response.text())
