"""Build progress as BuildKit's ``StatusResponse`` stream (vertexes, their logs, warnings).

A BuildKit client renders what it receives on ``Control.Status``: each vertex (a digest, a
name like ``[2/4] COPY . /srv``, started/completed times, ``cached``, ``error``) and the
output lines logged against it. ``StatusFeed`` keeps one build's updates for any number of
readers (the client may subscribe before or after the build starts); ``StatusOutput`` is
the classic builder's ``BuildOutput`` speaking that protocol instead of JSON lines, so the
same builder serves both APIs.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from google.protobuf.timestamp_pb2 import Timestamp

from minke.buildkit.pb import control_pb2
from minke.engine.build.output import BuildOutput

STDOUT = 1
STDERR = 2


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


class StatusFeed:
    """Every ``StatusResponse`` of one build, in order; ``close`` ends the readers."""

    def __init__(self) -> None:
        self._items: list[control_pb2.StatusResponse] = []
        self._changed = asyncio.Event()
        self.closed = False

    def put(self, item: control_pb2.StatusResponse) -> None:
        self._items.append(item)
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def follow(self) -> AsyncIterator[control_pb2.StatusResponse]:
        index = 0
        while True:
            while index < len(self._items):
                yield self._items[index]
                index += 1
            if self.closed:
                return
            self._changed.clear()
            await self._changed.wait()

    # -- vertexes -------------------------------------------------------------------------

    def vertex_update(self, vertex: control_pb2.Vertex) -> None:
        copy = control_pb2.Vertex()
        copy.CopyFrom(vertex)
        self.put(control_pb2.StatusResponse(vertexes=[copy]))

    def log(self, vertex: control_pb2.Vertex, data: bytes, stream: int = STDOUT) -> None:
        self.put(control_pb2.StatusResponse(logs=[control_pb2.VertexLog(
            vertex=vertex.digest, timestamp=_now(), stream=stream, msg=data)]))

    def warning(self, vertex: control_pb2.Vertex, text: str) -> None:
        self.put(control_pb2.StatusResponse(warnings=[control_pb2.VertexWarning(
            vertex=vertex.digest, level=1, short=text.encode())]))

    def start(self, name: str) -> control_pb2.Vertex:
        digest = "sha256:" + hashlib.sha256(
            (name + secrets.token_hex(8)).encode()).hexdigest()
        vertex = control_pb2.Vertex(digest=digest, name=name, started=_now())
        self.vertex_update(vertex)
        return vertex

    def complete(self, vertex: control_pb2.Vertex, *, cached: bool = False,
                 error: str = "") -> None:
        if vertex.HasField("completed"):
            return
        vertex.completed.CopyFrom(_now())
        vertex.cached = vertex.cached or cached
        if error:
            vertex.error = error
        self.vertex_update(vertex)

    @asynccontextmanager
    async def vertex(self, name: str) -> AsyncIterator[control_pb2.Vertex]:
        """A vertex around a piece of work; completed with the error if it raises."""
        vertex = self.start(name)
        try:
            yield vertex
        except BaseException as exc:
            self.complete(vertex, error=str(getattr(exc, "message", "")) or str(exc)
                          or type(exc).__name__)
            raise
        self.complete(vertex)


class StatusOutput(BuildOutput):
    """The builder's progress as vertexes: one per Dockerfile step that touches files; RUN
    output is logged against its step; a cache hit marks the step ``CACHED``."""

    def __init__(self, feed: StatusFeed, names: list[str | None] | None = None) -> None:
        super().__init__(self._discard)
        self.feed = feed
        self.names = names
        self.current: control_pb2.Vertex | None = None
        self.image_id = ""

    async def _discard(self, doc: object) -> None:  # the JSON documents are not used
        return None

    def _close_current(self, error: str = "") -> None:
        if self.current is not None:
            self.feed.complete(self.current, error=error)
            self.current = None

    async def step(self, number: int, total: int, text: str) -> None:
        """Step ``number`` of the builder's count; named from ``names`` when given (None
        there: a step shown as no vertex), else ``[number/total] text``."""
        self.started = True
        self._close_current()
        if self.names is None:
            self.current = self.feed.start(f"[{number}/{total}] {text}")
        elif number <= len(self.names) and self.names[number - 1] is not None:
            self.current = self.feed.start(self.names[number - 1] or "")

    async def triggers(self, count: int) -> None:
        if self.current is not None:
            self.feed.log(self.current, f"# Executing {count} build triggers\n".encode())

    async def using_cache(self) -> None:
        if self.current is not None:
            self.current.cached = True

    async def image(self, image_id: str) -> None:
        return None

    async def running_in(self, container_id: str) -> None:
        return None

    async def removing(self, container_id: str) -> None:
        return None

    async def output(self, data: bytes) -> None:
        if self.current is not None and data:
            self.feed.log(self.current, data)

    async def warning(self, text: str) -> None:
        target = self.current or self.feed.start("[internal] warnings")
        self.feed.warning(target, text)
        if target is not self.current:
            self.feed.complete(target)

    async def finished(self, image_id: str, tags: list[str]) -> None:
        self.started = True
        self.image_id = image_id
        self._close_current()

    async def error(self, message: str, code: int | None = None) -> None:
        self._close_current(error=message)
