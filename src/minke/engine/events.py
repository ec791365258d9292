"""The event bus behind ``docker events``: publish, replay since a time, and filtered streams.

Owns the event record shape (Docker's: Type, Action, Actor, time, timeNano, plus the legacy
status/id/from keys for containers and images) and the matching of Docker's event filters.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

HISTORY = 1024  # events kept for `--since` replay, as dockerd keeps a bounded log
SUBSCRIBER_QUEUE = 4096  # a subscriber this far behind is cut off rather than stall the bus

Event = dict[str, Any]
Filters = Mapping[str, list[str]]


class EventBus:
    """Fan-out of engine events to any number of subscribers, with a replay buffer."""

    def __init__(self) -> None:
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` with every event as it is published, before ``publish`` returns:
        for in-memory views that must be current when the API answers (the DNS names)."""
        self._listeners.append(callback)

    def publish(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None,
        *, scope: str = "local",
    ) -> Event:
        now = time.time_ns()
        event: Event = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": scope,  # "swarm" for cluster objects (nodes, services, ...)
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        if type_ in ("container", "image"):
            # The legacy top-level keys older clients (docker-py, compose v1) still read.
            event["status"] = action
            event["id"] = actor_id
            if type_ == "container" and "image" in event["Actor"]["Attributes"]:
                event["from"] = event["Actor"]["Attributes"]["image"]
        self._history.append(event)
        for callback in self._listeners:
            callback(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                queue.put_nowait(None) if queue.empty() else None
        return event

    async def stream(
        self,
        *,
        since_ns: int | None = None,
        until_ns: int | None = None,
        filters: Filters | None = None,
    ) -> AsyncIterator[Event]:
        """Events matching ``filters``: first those recorded since ``since_ns``, then live ones
        until ``until_ns`` (forever if None). Subscribes before replaying, so none is missed."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            replayed = list(self._history) if since_ns is not None else []
            last_ns = 0
            for event in replayed:
                if event["timeNano"] < since_ns:  # type: ignore[operator]
                    continue
                if until_ns is not None and event["timeNano"] > until_ns:
                    return
                last_ns = event["timeNano"]
                if matches(event, filters):
                    yield event
            if until_ns is not None and until_ns <= time.time_ns():
                return
            while True:
                timeout = None
                if until_ns is not None:
                    timeout = max(0.0, (until_ns - time.time_ns()) / 1e9)
                try:
                    async with asyncio.timeout(timeout):
                        event = await queue.get()
                except TimeoutError:
                    return
                if event is None:
                    return
                if event["timeNano"] <= last_ns:
                    continue  # already replayed
                if matches(event, filters):
                    yield event
        finally:
            self._subscribers.discard(queue)


def matches(event: Event, filters: Filters | None) -> bool:
    """Docker's event filter semantics: values of one key are ORed, keys are ANDed."""
    if not filters:
        return True
    attrs = event["Actor"]["Attributes"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "type":
            ok = event["Type"] in values
        elif key in ("event", "action"):
            ok = any(event["Action"] == v or event["Action"].split(":")[0] == v for v in values)
        elif key in ("container", "image", "network", "volume", "daemon", "node", "service",
                     "secret", "config"):
            ok = event["Type"] == key and (
                event["Actor"]["ID"] in values
                or any(event["Actor"]["ID"].startswith(v) for v in values if len(v) >= 3)
                or attrs.get("name") in values
                or (key == "image" and attrs.get("image") in values)
            )
            if not ok and key == "image" and event["Type"] == "container":
                ok = attrs.get("image") in values
        elif key == "label":
            ok = any(_label_matches(attrs, v) for v in values)
        elif key == "scope":
            ok = event.get("scope") in values
        else:
            ok = True
        if not ok:
            return False
    return True


def _label_matches(attrs: Mapping[str, str], expr: str) -> bool:
    if "=" in expr:
        k, v = expr.split("=", 1)
        return attrs.get(k) == v
    return expr in attrs
