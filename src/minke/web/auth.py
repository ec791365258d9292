"""Who may read and who may act on the dashboard: the token, the session cookie, CSRF.

- Reading (GET, HEAD): anyone on a loopback dashboard, else a logged-in session or the
  token as ``Authorization: Bearer``.
- Acting (any other method): the token as a bearer header (scripts; browsers never attach
  it on their own), or the session cookie *and* the CSRF header *and* a same-origin
  ``Origin``. The cookie is ``SameSite=Strict`` and ``HttpOnly``, so a foreign page's form
  arrives without it; the header cannot be set cross-origin without a CORS preflight, which
  is never granted; the Origin check stops what a browser bug would let through.
- A loopback dashboard only answers ``Host`` names that are loopback, so a page that
  rebinds its own DNS name to 127.0.0.1 cannot read it (DNS rebinding).

Session and CSRF values are HMACs of the token, so changing the token logs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from minke.web.config import WebConfig

SESSION_COOKIE = "minke_session"
CSRF_HEADER = "X-Minke-CSRF"
PUBLIC_PREFIXES = ("/static/", "/login")
SAFE_METHODS = frozenset({"GET", "HEAD"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guard:
    """The dashboard's access rules for one ``WebConfig``."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.session_value = self._derive("session")
        self.csrf_value = self._derive("csrf")

    def _derive(self, purpose: str) -> str:
        return hmac.new(self.config.token.encode(), f"minke-web-{purpose}".encode(),
                        hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.config.token.encode())

    def has_bearer(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    def has_session(self, request: web.Request) -> bool:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.session_value.encode())

    def logged_in(self, request: web.Request) -> bool:
        return self.has_bearer(request) or self.has_session(request)

    def own_origin(self, request: web.Request) -> str:
        return f"{'https' if self.config.tls else 'http'}://{request.host}"

    def same_origin(self, request: web.Request) -> bool:
        """Whether the request says it comes from a page of this dashboard."""
        origin = request.headers.get("Origin")
        if origin is None:  # old browsers omit Origin on same-origin requests; Referer then
            referer = request.headers.get("Referer", "")
            return referer.startswith(self.own_origin(request) + "/")
        return origin == self.own_origin(request)

    def host_allowed(self, request: web.Request) -> bool:
        if not self.config.loopback:
            return True
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") \
            else request.host
        host = host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def set_session(self, response: web.StreamResponse) -> None:
        response.set_cookie(SESSION_COOKIE, self.session_value, httponly=True,
                            samesite="Strict", secure=self.config.tls is not None, path="/")

    def check(self, request: web.Request) -> web.Response | None:
        """None if ``request`` may go on, else the refusal to send."""
        if not self.host_allowed(request):
            return refusal(421, f"this dashboard answers loopback names only, not "
                           f"{request.host!r}")
        if request.path.startswith(PUBLIC_PREFIXES):
            return None
        if request.method in SAFE_METHODS:
            if self.config.loopback or self.logged_in(request):
                return None
            if request.path.startswith(("/docker/", "/events")):
                return refusal(401, "log in first: this dashboard needs the token")
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
        if self.has_bearer(request):
            return None
        if not self.has_session(request):
            return refusal(401, "actions need the dashboard token: log in first")
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(),
                                   self.csrf_value.encode()):
            return refusal(403, f"CSRF check failed: missing or wrong {CSRF_HEADER} header")
        if not self.same_origin(request):
            return refusal(403, "CSRF check failed: the request comes from another origin")
        return None

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            refused = self.check(request)
            if refused is not None:
                return refused
            response = await handler(request)
            # Pages must not be framed by other sites (clickjacking the confirm buttons).
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response

        return guard


def refusal(status: int, message: str) -> web.Response:
    return web.Response(status=status, content_type="application/json",
                        body=json.dumps({"message": message}).encode() + b"\n")
