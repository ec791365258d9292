"""System endpoints: ping, version, info, events."""

from __future__ import annotations

import json
import platform
import time

from aiohttp import web

from minke.api.keys import engine
from minke.api.params import qfilters, qstr
from minke.api.routing import Routes
from minke.errors import InvalidParameter
from minke.version import API_VERSION, DOCKER_COMPAT_VERSION, MIN_API_VERSION, MINKE_VERSION

routes = Routes()

PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Ostype": "linux",
    "Docker-Experimental": "false",
    # BuildKit's API (POST /grpc, /session) is served, so say so as dockerd 23+ does; the
    # classic POST /build stays for clients that ask for it (DOCKER_BUILDKIT=0, docker-py).
    "Builder-Version": "2",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Swarm": "inactive",
}


def _server_header() -> dict[str, str]:
    return {"Server": f"Docker/{DOCKER_COMPAT_VERSION} (linux)"}


def _swarm_header(request: web.Request) -> dict[str, str]:
    """dockerd's ``Swarm`` header: inactive, locked, or active/manager."""
    swarm = engine(request).swarm
    return {"Swarm": swarm.ping_status()} if swarm is not None else {}


@routes.get("/_ping")
async def ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers={**PING_HEADERS, **_server_header(),
                                            **_swarm_header(request)})


@routes.head("/_ping")
async def ping_head(request: web.Request) -> web.Response:
    return web.Response(headers={**PING_HEADERS, **_server_header(), **_swarm_header(request),
                                 "Content-Length": "0"})


def version_doc() -> dict[str, object]:
    uname = platform.uname()
    return {
        "Platform": {"Name": f"minke {MINKE_VERSION}"},
        "Components": [
            {"Name": "Engine", "Version": DOCKER_COMPAT_VERSION, "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release,
                "MinkeVersion": MINKE_VERSION,
            }},
        ],
        "Version": DOCKER_COMPAT_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "minke",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": uname.release,
        "BuildTime": "",
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@routes.get("/version")
async def version(request: web.Request) -> web.Response:
    return web.json_response(version_doc(), headers=_server_header())


@routes.get("/info")
async def info(request: web.Request) -> web.Response:
    return web.json_response(await engine(request).info())


def _time_ns(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(float(raw) * 1_000_000_000)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {raw!r}") from None


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    since = _time_ns(qstr(request, "since"), "since")
    until = _time_ns(qstr(request, "until"), "until")
    filters = qfilters(request)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if until is not None and since is None:
        since = 0 if until <= time.time_ns() else None
    stream = engine(request).events.stream(since_ns=since, until_ns=until, filters=filters)
    async for event in stream:
        await response.write(json.dumps(event).encode() + b"\n")
    await response.write_eof()
    return response
