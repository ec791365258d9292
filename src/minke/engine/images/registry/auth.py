"""Registry authentication: the ``WWW-Authenticate`` challenge, basic credentials and the
bearer-token flow of the distribution token spec.

An ``Authorizer`` belongs to one registry and one set of credentials (what the API caller
sent in ``X-Registry-Auth``, or nothing: anonymous). It answers the ``Authorization``
header for a scope (``repository:<path>:pull,push``); the first 401 tells it which scheme
the registry wants. For ``Bearer`` it fetches a token from the realm — ``GET`` with the
credentials as basic auth, or ``POST`` of a refresh token when it has an identity token —
and keeps it per scope until it expires.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field

import aiohttp

from minke.errors import Unauthorized, Unavailable

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
DEFAULT_TOKEN_LIFETIME = 60  # s, as the token spec says when expires_in is missing


@dataclass
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` value (``Bearer realm="…",service="…"``)."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        match = re.match(r"([A-Za-z][\w-]*)\s*", rest)
        if match is None:
            break
        scheme = match.group(1).lower()
        rest = rest[match.end():]
        params: dict[str, str] = {}
        while True:
            pm = _PARAM.match(rest)
            if pm is None:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            rest = rest[pm.end():].lstrip()
            if rest.startswith(","):
                rest = rest[1:].lstrip()
        out.append(Challenge(scheme, params))
    return out


def registry_message(body: bytes, status: int, reason: str) -> str:
    """The registry's own words from an error body (``{"errors": [{"code", "message"}]}``):
    ``unauthorized: authentication required``, or the status line when there are none."""
    import json

    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    parts = []
    for err in errors:
        if isinstance(err, dict):
            code = str(err.get("code", "")).lower()
            message = str(err.get("message", "")).strip()
            parts.append(f"{code}: {message}" if code and message else code or message)
    if parts:
        return "; ".join(parts)
    text = body.decode(errors="replace").strip()
    if text and len(text) < 200 and not text.startswith("<"):
        return text
    return f"{status} {reason}".strip()


class Authorizer:
    """Authorization headers for one registry and one set of credentials."""

    def __init__(self, credentials: dict[str, str] | None = None) -> None:
        creds = credentials or {}
        self.username = creds.get("username", "")
        self.password = creds.get("password", "")
        self.identity_token = creds.get("identitytoken", "")
        self.registry_token = creds.get("registrytoken", "")
        self._challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}  # scope → (token, expiry)

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.identity_token)

    def _basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def challenged(self, header: str) -> bool:
        """Record the challenge of a 401; False when it offers no scheme we speak."""
        for challenge in parse_challenges(header):
            if challenge.scheme in ("bearer", "basic"):
                self._challenge = challenge
                return True
        return False

    async def header(self, session: aiohttp.ClientSession, scopes: list[str]) -> str | None:
        """The ``Authorization`` value for ``scopes``, or None while no challenge came."""
        if self.registry_token:
            return "Bearer " + self.registry_token
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic() if self.username else None
        key = " ".join(sorted(scopes))
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return "Bearer " + cached[0]
        token, lifetime = await self._fetch_token(session, challenge, scopes)
        # Renew a little early, so a token does not expire between check and use.
        self._tokens[key] = (token, time.monotonic() + max(lifetime - 5, 1))
        return "Bearer " + token

    def forget_tokens(self) -> None:
        self._tokens.clear()

    async def _fetch_token(
        self, session: aiohttp.ClientSession, challenge: Challenge, scopes: list[str]
    ) -> tuple[str, int]:
        realm = challenge.params.get("realm")
        if not realm:
            raise Unauthorized("bearer challenge without a realm: cannot fetch a token")
        service = challenge.params.get("service", "")
        try:
            if self.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": self.identity_token,
                        "service": service, "client_id": "minke", "scope": " ".join(scopes)}
                response = await session.post(realm, data=form)
            else:
                params = [("service", service)] if service else []
                params += [("scope", s) for s in scopes]
                headers = {"Authorization": self._basic()} if self.username else {}
                response = await session.get(realm, params=params, headers=headers)
            async with response:
                body = await response.read()
                if response.status == 401 or response.status == 403:
                    raise Unauthorized(registry_message(body, response.status,
                                                        response.reason or ""))
                if response.status >= 400:
                    raise Unavailable(
                        f"token server {realm}: {registry_message(body, response.status, response.reason or '')}"  # noqa: E501
                    )
                doc = await response.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise Unavailable(f"Get \"{realm}\": {exc}") from exc
        except ValueError:
            raise Unavailable(f"token server {realm}: answer is not JSON") from None
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise Unavailable(f"token server {realm}: no token in the answer")
        if doc.get("refresh_token"):
            self.identity_token = doc["refresh_token"]
        return str(token), int(doc.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
