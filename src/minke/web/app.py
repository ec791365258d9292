"""The dashboard's aiohttp application and its listener: pages, ``/events``, the API
gateway under ``/docker``, behind the access rules of ``auth``."""

from __future__ import annotations

import logging

from aiohttp import web

from minke.daemon.listeners import ListenerError
from minke.engine.engine import Engine
from minke.web import feed as feeds
from minke.web import gateway, pages
from minke.web.auth import Guard
from minke.web.config import WebConfig

log = logging.getLogger("minked")

FEED: web.AppKey[feeds.Feed] = web.AppKey("feed")


def make_web_app(engine: Engine, config: WebConfig) -> web.Application:
    guard = Guard(config)
    app = web.Application(middlewares=[guard.middleware(), gateway.allowlist])
    feed = feeds.Feed(engine)
    app[FEED] = feed

    async def events(request: web.Request) -> web.StreamResponse:
        return await feeds.stream(request, feed)

    async def start_feed(_: web.Application) -> None:
        feed.start()

    async def stop_feed(_: web.Application) -> None:
        await feed.stop()

    app.on_startup.append(start_feed)
    app.on_shutdown.append(stop_feed)  # before open /events streams are waited for
    app.router.add_get("/events", events)
    pages.install(app, pages.Pages(guard, engine))
    gateway.mount(app, engine)
    return app


async def start(engine: Engine, config: WebConfig) -> web.AppRunner:
    """Serve the dashboard on ``config``'s address; the caller cleans the runner up."""
    runner = web.AppRunner(make_web_app(engine, config), access_log=None,
                           handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    # asyncio's own TLS, not the API's TLSSite: browsers never half-close a connection
    # (what TLSSite exists for), and aiohttp's file responses need asyncio's transport.
    site = web.TCPSite(runner, config.host, config.port, ssl_context=config.tls,
                       reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenerError(f"cannot serve the dashboard on {config.url}: "
                            f"{exc.strerror or exc}") from exc
    log.info("dashboard on %s (token in %s)", config.url, config.token_file)
    return runner
