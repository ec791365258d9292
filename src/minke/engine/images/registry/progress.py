"""Docker's progress messages for pull and push (``jsonmessage``): per-layer status lines
with ``progressDetail`` and the text bar, throttled so a fast transfer does not send a
message per chunk.

The engine reports through a ``Progress`` callable; the API streams each message as one
JSON line, the CLI draws bars from ``progressDetail``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from minke.units import human_size

Progress = Callable[[dict[str, Any]], None]
BAR_WIDTH = 50
INTERVAL = 0.1  # s between two "Downloading"/"Pushing" messages of one layer


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def bar(current: int, total: int) -> str:
    """Docker's ``[=====>      ]  12.3MB/45.6MB``."""
    if total <= 0:
        return f"{human_size(current)}"
    filled = min(BAR_WIDTH, int(BAR_WIDTH * current / total))
    arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
    return (f"[{arrow}{' ' * (BAR_WIDTH - len(arrow))}] "
            f"{human_size(current):>8}/{human_size(total)}")


def ignore(message: dict[str, Any]) -> None:
    """A ``Progress`` that drops everything (in-process callers that want no output)."""


class Reporter:
    """The messages of one pull or push."""

    def __init__(self, out: Progress) -> None:
        self._out = out
        self._last: dict[str, float] = {}

    def status(self, text: str, id: str | None = None) -> None:
        msg: dict[str, Any] = {"status": text}
        if id is not None:
            msg["id"] = id
        self._out(msg)

    def layer(self, id: str, text: str) -> None:
        self._out({"status": text, "progressDetail": {}, "id": id})

    def transfer(self, id: str, text: str, current: int, total: int, *,
                 force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last.get(id + text, 0.0) < INTERVAL:
            return
        self._last[id + text] = now
        self._out({"status": text, "progressDetail": {"current": current, "total": total},
                   "progress": bar(current, total), "id": id})

    def aux(self, doc: dict[str, Any]) -> None:
        self._out({"progressDetail": {}, "aux": doc})
