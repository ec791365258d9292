"""Network namespaces made ahead of need, so that a container's start does not wait for the
kernel to make one (``unshare(CLONE_NEWNET)`` takes milliseconds).

A spare is what ``netns.create`` makes — a namespace with only ``lo``, up — bind-mounted at
``<dir>/.spare-<random>``; ``take`` moves it to the container's namespace file. The pool
holds one spare, made again after each take, off the start's path (``refill``). Spares left
by a daemon that stopped or died are removed by ``reset`` at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path

from minke.engine.network import netns
from minke.errors import MinkeError

log = logging.getLogger(__name__)

SPARE_PREFIX = ".spare-"


class NamespacePool:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._spare: Path | None = None
        self._making: asyncio.Task[None] | None = None

    async def take(self, path: Path) -> None:
        """A fresh namespace bind-mounted at ``path``: the spare if one is ready, else a new
        one made now."""
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                await asyncio.to_thread(netns.rebind, spare, path)
                return
            except MinkeError as exc:
                log.warning("spare network namespace %s: %s", spare.name, exc)
                await asyncio.to_thread(netns.remove, spare)
        await asyncio.to_thread(netns.create, path)

    def refill(self) -> None:
        """Make a spare in the background if there is none (and none is being made)."""
        if self._spare is None and (self._making is None or self._making.done()):
            self._making = asyncio.create_task(self._make(), name="spare netns")

    async def _make(self) -> None:
        path = self._directory / f"{SPARE_PREFIX}{secrets.token_hex(6)}"
        try:
            await asyncio.to_thread(netns.create, path)
        except MinkeError as exc:
            log.warning("making a spare network namespace: %s", exc)
            return
        if self._spare is None:
            self._spare = path
        else:
            await asyncio.to_thread(netns.remove, path)

    async def reset(self) -> None:
        """Remove spares an earlier daemon left, then make one."""
        await self.close()
        if self._directory.is_dir():
            for stale in self._directory.glob(f"{SPARE_PREFIX}*"):
                await asyncio.to_thread(netns.remove, stale)
        self.refill()

    async def close(self) -> None:
        """Remove the spare (and wait for one being made)."""
        if self._making is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._making
            self._making = None
        spare, self._spare = self._spare, None
        if spare is not None:
            await asyncio.to_thread(netns.remove, spare)
