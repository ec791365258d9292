"""The classic builder's progress stream: the JSON documents dockerd sends on ``POST /build``
(``{"stream": "Step 1/7 : FROM busybox\\n"}`` ... ``{"aux": {"ID": "sha256:..."}}``,
``Successfully built <12 hex>``, ``Successfully tagged x:y``, and in-band errors), which the
docker CLI, docker-py (``(^Successfully built |sha256:)([0-9a-f]+)$``) and docker-compose v1
(``Successfully built ([0-9a-f]+)``) parse. With ``quiet`` only the final image id is sent,
as ``dockerd`` does for ``q=1``.

The builder calls these methods; ``send`` is the one coroutine that delivers a document
(the API route writes it as a JSON line; tests collect it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class BuildOutput:
    def __init__(self, send: Send, *, quiet: bool = False) -> None:
        self._send = send
        self.quiet = quiet
        self.started = False  # once True, errors can only go in-band

    async def _stream(self, text: str) -> None:
        self.started = True
        if not self.quiet:
            await self._send({"stream": text})

    async def step(self, number: int, total: int, text: str) -> None:
        # dockerd sends the step line and its newline as two documents
        await self._stream(f"Step {number}/{total} : {text}")
        await self._stream("\n")

    async def triggers(self, count: int) -> None:
        await self._stream(f"# Executing {count} build trigger{'s' if count != 1 else ''}\n")

    async def using_cache(self) -> None:
        await self._stream(" ---> Using cache\n")

    async def image(self, image_id: str) -> None:
        await self._stream(f" ---> {short_id(image_id)}\n")

    async def running_in(self, container_id: str) -> None:
        await self._stream(f" ---> Running in {container_id[:12]}\n")

    async def removing(self, container_id: str) -> None:
        await self._stream(f"Removing intermediate container {container_id[:12]}\n")

    async def output(self, data: bytes) -> None:
        """What a RUN step's process wrote (stdout and stderr, as dockerd merges them)."""
        await self._stream(data.decode("utf-8", errors="replace"))

    async def warning(self, text: str) -> None:
        await self._stream(f"[Warning] {text}\n")

    async def finished(self, image_id: str, tags: list[str]) -> None:
        self.started = True
        await self._send({"aux": {"ID": image_id}})
        if self.quiet:
            await self._send({"stream": image_id + "\n"})
            return
        await self._stream(f"Successfully built {short_id(image_id)}\n")
        for tag in tags:
            await self._stream(f"Successfully tagged {tag}\n")

    async def error(self, message: str, code: int | None = None) -> None:
        detail: dict[str, Any] = {"message": message}
        if code is not None:
            detail["code"] = code
        await self._send({"errorDetail": detail, "error": message})
