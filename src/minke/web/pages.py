"""The dashboard's pages: one HTML shell per page (``templates/page.html``) that the page's
script fills from the API, the login form, and the static files. The server renders no
data into the HTML, so what a page shows is what ``/docker`` answers."""

from __future__ import annotations

import html
import string
from pathlib import Path

from aiohttp import web

from minke.engine.engine import Engine
from minke.web.auth import Guard, Handler

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"

# page name -> title; pages with an object take its ID from the path
PAGES = {
    "cluster": "Cluster", "services": "Services", "service": "Service", "task": "Task",
    "containers": "Containers", "container": "Container", "images": "Images",
    "networks": "Networks", "volumes": "Volumes", "compose": "Compose projects",
}
# Everything comes from this origin: no inline script, no CDN (the page works offline).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES / name).read_text(encoding="utf-8"))


class Pages:
    """Handlers for the HTML pages of one dashboard."""

    def __init__(self, guard: Guard, engine: Engine) -> None:
        self.guard = guard
        self.engine = engine
        self.shell = _template("page.html")
        self.login_form = _template("login.html")

    def page(self, name: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            logged_in = self.guard.logged_in(request)
            body = self.shell.substitute(
                page=name, title=PAGES[name], id=html.escape(request.match_info.get("id", "")),
                csrf=self.guard.csrf_value if logged_in else "",
                auth="1" if logged_in else "0",
                login=('<form method="post" action="/login/out"><button class="link">'
                       "Log out</button></form>") if logged_in else
                f'<a href="/login?next={html.escape(request.path_qs)}">Log in</a>',
            )
            return html_response(body)
        return handler

    async def index(self, request: web.Request) -> web.Response:
        swarm = self.engine.swarm
        raise web.HTTPFound("/cluster" if swarm is not None and swarm.status == "active"
                            else "/containers")

    async def login_page(self, request: web.Request) -> web.Response:
        return html_response(self.login_form.substitute(
            next=html.escape(safe_next(request.query.get("next", "/"))), error=""))

    async def login(self, request: web.Request) -> web.Response:
        if not self.guard.same_origin(request):
            raise web.HTTPForbidden(text="login from another origin refused")
        form = await request.post()
        target = safe_next(str(form.get("next", "/")))
        if not self.guard.token_matches(str(form.get("token", "")).strip()):
            return html_response(self.login_form.substitute(
                next=html.escape(target), error='<p class="error">Wrong token.</p>'),
                status=401)
        response = web.HTTPSeeOther(target)
        self.guard.set_session(response)
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        if not self.guard.same_origin(request):
            raise web.HTTPForbidden(text="logout from another origin refused")
        response = web.HTTPSeeOther("/login")
        response.del_cookie("minke_session", path="/")
        raise response


def safe_next(target: str) -> str:
    """Where to go after logging in: a path on this site, never another one."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def html_response(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def install(app: web.Application, pages: Pages) -> None:
    app.router.add_get("/", pages.index)
    for name in PAGES:
        if name in ("service", "task", "container"):
            app.router.add_get(f"/{name}s/{{id}}", pages.page(name))
        else:
            app.router.add_get(f"/{name}", pages.page(name))
    app.router.add_get("/login", pages.login_page)
    app.router.add_post("/login", pages.login)
    app.router.add_post("/login/out", pages.logout)
    app.router.add_static("/static", STATIC, append_version=False)
