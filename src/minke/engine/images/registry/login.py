"""``POST /auth``: check credentials against a registry, as ``docker login`` asks dockerd to.

Pings ``/v2/``; when the registry challenges, answers the challenge with the credentials
(basic, or a bearer token fetched without a scope, as dockerd's login does) and expects
``/v2/`` to answer 200. A refusal is ``Unauthorized`` with dockerd's words and the
registry's own message.
"""

from __future__ import annotations

import asyncio

from minke.credentials import INDEX_SERVER
from minke.engine.images.reference import DEFAULT_DOMAIN
from minke.engine.images.registry.auth import Authorizer, registry_message
from minke.engine.images.registry.client import RepositoryClient
from minke.engine.images.registry.endpoint import RegistryConfig
from minke.errors import InvalidParameter, Unauthorized


def registry_domain(server: str) -> str:
    """The registry a login's ``serveraddress`` names (Docker Hub when empty)."""
    if not server or server.rstrip("/") in (INDEX_SERVER.rstrip("/"), "https://index.docker.io"):
        return DEFAULT_DOMAIN
    host = server.split("://", 1)[-1].split("/", 1)[0]
    if not host:
        raise InvalidParameter(f"invalid registry address: {server!r}")
    return DEFAULT_DOMAIN if host in ("index.docker.io", "registry-1.docker.io") else host


async def login(config: RegistryConfig, credentials: dict[str, str]) -> str:
    """Verify ``credentials`` (``username``, ``password``, ``serveraddress``); returns
    the status text dockerd answers ("Login Succeeded")."""
    domain = registry_domain(credentials.get("serveraddress", ""))
    endpoint = await asyncio.to_thread(config.endpoint, domain)
    auth = Authorizer(credentials)
    client = RepositoryClient(endpoint, "", auth)
    client.scopes = []
    async with client:
        try:
            response = await client.request("GET", "/v2/")
        except Unauthorized as exc:
            raise Unauthorized(f"login attempt to {client.base}/v2/ failed with status: "
                               f"401 Unauthorized: {exc}") from None
        body = await response.read()
        response.release()
        if response.status != 200:
            message = registry_message(body, response.status, response.reason or "")
            raise Unauthorized(f"login attempt to {client.base}/v2/ failed with status: "
                               f"{response.status} {response.reason}: {message}")
    return "Login Succeeded"
