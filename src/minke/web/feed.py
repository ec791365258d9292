"""The dashboard's live feed: one subscription to the engine's event bus and one watch of
the swarm store's tasks, fanned out to every open page as server-sent events.

Docker's events carry containers, images, networks, volumes, nodes and services, but not
tasks; the pages learn of task changes from the cluster store's own watch (the same store
``/tasks`` reads), turned into events of ``Type`` "task" with the few attributes a page
needs to decide what to re-read (service, node, state). Pages re-read only the objects
named (see ``static/live.js``), never everything.

However many pages are open, the daemon holds one bus subscription and one store watch.
A page that falls ``CLIENT_QUEUE`` events behind is cut off; its ``EventSource``
reconnects and the page reloads its data once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from minke.engine.engine import Engine
from minke.swarm.store import Compacted, Event, Store

log = logging.getLogger(__name__)

CLIENT_QUEUE = 2048  # events a page may lag behind before it is cut off
KEEPALIVE = 20.0  # s between comments on an idle stream, so proxies keep it open
SWARM_RECHECK = 2.0  # s between looks for a swarm store when the node is in none

Message = dict[str, Any]
RELOAD: Message = {"Type": "dashboard", "Action": "reload"}  # pages read everything again


def task_message(event: Event) -> Message:
    """A store event on a task as a dashboard event (Docker API names, like the bus's)."""
    task = event.object
    status = task.get("Status") or {}
    now = time.time_ns()
    return {
        "Type": "task", "Action": {"create": "create", "delete": "remove"}.get(
            event.action, "update"),
        "Actor": {"ID": event.id, "Attributes": {
            "service": task.get("ServiceID", ""), "node": task.get("NodeID", ""),
            "state": status.get("State", ""), "desired": task.get("DesiredState", ""),
        }},
        "scope": "swarm", "time": now // 1_000_000_000, "timeNano": now,
    }


class Feed:
    """Fan-out of dashboard events; ``start`` before use, ``stop`` when the daemon stops."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._clients: set[asyncio.Queue[Message | None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._swarm_changed = asyncio.Event()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow_bus(), name="web-feed-bus"),
                       asyncio.create_task(self._follow_tasks(), name="web-feed-tasks")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in list(self._clients):
            self._cut(queue)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, message: Message) -> None:
        for queue in list(self._clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._cut(queue)

    def _cut(self, queue: asyncio.Queue[Message | None]) -> None:
        self._clients.discard(queue)
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()  # room for the end marker
        queue.put_nowait(None)

    def subscribe(self) -> AsyncIterator[Message | None]:
        """This page's events from now on (subscribed before this returns, so nothing
        published after it is missed); None after ``KEEPALIVE`` seconds without one. The
        caller must iterate it (or ``aclose`` it) for the subscription to end."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue(CLIENT_QUEUE)
        self._clients.add(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Message | None]
                     ) -> AsyncIterator[Message | None]:
        try:
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE):
                        message = await queue.get()
                except TimeoutError:
                    yield None
                    continue
                if message is None:
                    return
                yield message
        finally:
            self._clients.discard(queue)

    async def _follow_bus(self) -> None:
        while True:
            async for event in self.engine.events.stream():
                if event["Type"] == "node":
                    self._swarm_changed.set()  # perhaps a swarm was made: look for its store
                self.publish(event)
            # The bus cut this subscriber off (it fell behind): pages may have missed events.
            self.publish(RELOAD)

    def _store(self) -> Store | None:
        swarm = self.engine.swarm
        control = getattr(swarm, "control", None) if swarm is not None else None
        return getattr(control, "store", None)

    async def _follow_tasks(self) -> None:
        while True:
            store = self._store()
            if store is None:
                self._swarm_changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SWARM_RECHECK):
                        await self._swarm_changed.wait()
                continue
            try:
                index = await store.view(lambda tx: tx.index)
                async for event in store.watch(("task",), since=index):
                    self.publish(task_message(event))
                    if self._store() is not store:
                        break
            except Compacted:
                self.publish(RELOAD)
            except Exception:  # a store closed under the watch (swarm leave) ends it
                log.debug("task watch ended", exc_info=True)
            # The store is closed when the node leaves; wait for the next one.
            await asyncio.sleep(SWARM_RECHECK if self._store() is store else 0)


async def stream(request: web.Request, feed: Feed) -> web.StreamResponse:
    """``GET /events``: the feed as ``text/event-stream``, one JSON event per message."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 1000\n: connected\n\n")
    try:
        async with contextlib.aclosing(feed.subscribe()) as messages:  # type: ignore[type-var]
            async for message in messages:
                if message is None:
                    await response.write(b": keepalive\n\n")
                else:
                    await response.write(b"data: " + json.dumps(message).encode() + b"\n\n")
    except ConnectionResetError:
        pass  # the page went away
    return response
