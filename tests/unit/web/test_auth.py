"""Who may read and act on the dashboard: the guard in front of a stand-in handler, over
real HTTP (aiohttp's test server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minke.web.auth import CSRF_HEADER, SESSION_COOKIE, Guard
from minke.web.config import WebConfig
from minke.web.pages import Pages, safe_next

TOKEN = "s3cret-token-of-enough-length"


def config(host: str = "127.0.0.1") -> WebConfig:
    return WebConfig(host=host, port=0, token=TOKEN, token_file=Path("/dev/null"), tls=None)


@asynccontextmanager
async def client(host: str = "127.0.0.1") -> AsyncIterator[tuple[TestClient, Guard]]:
    guard = Guard(config(host))
    app = web.Application(middlewares=[guard.middleware()])

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
    app.router.add_get("/docker/info", ok)
    app.router.add_post("/docker/services/x/update", ok)
    pages = Pages(guard, engine=None)  # type: ignore[arg-type]
    app.router.add_get("/login", pages.login_page)
    app.router.add_post("/login", pages.login)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c, guard


def origin(c: TestClient) -> str:
    return f"http://{c.server.host}:{c.server.port}"


async def test_loopback_reads_without_login_acts_with_token() -> None:
    async with client() as (c, guard):
        assert (await c.get("/docker/info")).status == 200
        refused = await c.post("/docker/services/x/update")
        assert refused.status == 401
        assert "token" in (await refused.json())["message"]
        wrong = await c.post("/docker/services/x/update",
                             headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        ok = await c.post("/docker/services/x/update",
                          headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200


async def test_session_needs_csrf_header_and_same_origin() -> None:
    async with client() as (c, guard):
        cookies = {SESSION_COOKIE: guard.session_value}
        no_header = await c.post("/docker/services/x/update", cookies=cookies,
                                 headers={"Origin": origin(c)})
        assert no_header.status == 403
        assert "CSRF" in (await no_header.json())["message"]
        foreign = await c.post("/docker/services/x/update", cookies=cookies, headers={
            CSRF_HEADER: guard.csrf_value, "Origin": "http://evil.example"})
        assert foreign.status == 403
        assert "another origin" in (await foreign.json())["message"]
        ok = await c.post("/docker/services/x/update", cookies=cookies, headers={
            CSRF_HEADER: guard.csrf_value, "Origin": origin(c)})
        assert ok.status == 200


async def test_login_sets_a_strict_session_cookie() -> None:
    async with client() as (c, guard):
        wrong = await c.post("/login", data={"token": "nope", "next": "/services"},
                             headers={"Origin": origin(c)}, allow_redirects=False)
        assert wrong.status == 401
        foreign = await c.post("/login", data={"token": TOKEN}, allow_redirects=False,
                               headers={"Origin": "http://evil.example"})
        assert foreign.status == 403
        ok = await c.post("/login", data={"token": TOKEN, "next": "/services"},
                          headers={"Origin": origin(c)}, allow_redirects=False)
        assert ok.status == 303 and ok.headers["Location"] == "/services"
        cookie = ok.cookies[SESSION_COOKIE]
        assert cookie.value == guard.session_value
        assert cookie["samesite"] == "Strict" and cookie["httponly"]


async def test_non_loopback_needs_login_to_read() -> None:
    async with client(host="192.0.2.1") as (c, guard):
        assert (await c.get("/docker/info")).status == 401
        page = await c.get("/somewhere", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"].startswith("/login")
        ok = await c.get("/docker/info", cookies={SESSION_COOKIE: guard.session_value})
        assert ok.status == 200


async def test_loopback_refuses_foreign_host_names() -> None:
    async with client() as (c, _):
        rebound = await c.get("/docker/info", headers={"Host": "attacker.example:9180"})
        assert rebound.status == 421
        assert (await c.get("/docker/info", headers={"Host": "localhost:9180"})).status == 200


def test_next_stays_on_the_site() -> None:
    assert safe_next("/services") == "/services"
    for bad in ("//evil.example/", "https://evil.example/", "\\\\evil", "services"):
        assert safe_next(bad) == "/"
