"""The application keys through which route handlers reach the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from minke.engine.engine import Engine

ENGINE: web.AppKey[Engine] = web.AppKey("engine")


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE]
