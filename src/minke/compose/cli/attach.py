"""Service output with coloured ``service-n  | `` prefixes: ``logs`` and attached ``up``.

One thread per container reads its log stream (``GET /containers/{id}/logs``, demultiplexed
unless it has a TTY) and writes whole lines under a lock, so lines of different services
never interleave mid-line. ``up`` without ``-d`` follows until every container has exited,
or until the first one does with ``--abort-on-container-exit``; Ctrl-C stops the project's
containers, as Compose does.
"""

from __future__ import annotations

import sys
import threading

from minke.cli.context import Context
from minke.client import FrameDecoder

from .. import model
from ..executor import Executor

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)  # Compose's rotation of ANSI colours


class Prefixer:
    def __init__(self, names: list[str], color: bool, prefix: bool) -> None:
        width = max((len(n) for n in names), default=0)
        self.prefixes: dict[str, str] = {}
        for i, name in enumerate(names):
            text = f"{name.ljust(width)}  | " if prefix else ""
            if color and prefix and sys.stdout.isatty():
                text = f"\x1b[{COLOURS[i % len(COLOURS)]}m{text}\x1b[0m"
            self.prefixes[name] = text
        self.lock = threading.Lock()

    def write(self, name: str, line: str) -> None:
        with self.lock:
            sys.stdout.write(self.prefixes.get(name, "") + line + "\n")
            sys.stdout.flush()


def _stream(ex: Executor, c: dict[str, Any], out: Prefixer, params: dict[str, Any]) -> None:
    name = c["Names"][0].lstrip("/")
    tty = bool((ex.inspect(c["Id"]).get("Config") or {}).get("Tty"))
    pending = b""
    decoder = FrameDecoder()
    with ex.api.stream("GET", f"/containers/{c['Id']}/logs", params=params) as stream:
        for chunk in stream.chunks():
            data = chunk if tty else b"".join(p for _, p in decoder.feed(chunk))
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                out.write(name, line.decode(errors="replace").rstrip("\r"))
    if pending:
        out.write(name, pending.decode(errors="replace"))


def logs(ctx: Context, ex: Executor, services: list[str], *, follow: bool, tail: str,
         timestamps: bool, since: str | None, until: str | None, color: bool,
         prefix: bool) -> int:
    found = ex.containers(services=services)
    out = Prefixer([c["Names"][0].lstrip("/") for c in found], color, prefix)
    params = {"stdout": True, "stderr": True, "follow": follow or None, "tail": tail,
              "timestamps": timestamps or None, "since": since, "until": until}
    threads = [threading.Thread(target=_stream, args=(ex, c, out, params), daemon=True)
               for c in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


def follow(ctx: Context, ex: Executor, services: list[str], *, abort: bool,
           exit_code_from: str | None, color: bool, prefix: bool, timeout: int | None) -> int:
    found = ex.containers(services=services)
    out = Prefixer([c["Names"][0].lstrip("/") for c in found], color, prefix)
    params = {"stdout": True, "stderr": True, "follow": True, "tail": "all"}
    done = threading.Event()
    exits: dict[str, int] = {}
    lock = threading.Lock()

    def run(c: dict[str, Any]) -> None:
        _stream(ex, c, out, params)
        code = ex.api.post(f"/containers/{c['Id']}/wait").get("StatusCode", 0)
        name = c["Names"][0].lstrip("/")
        out.write(name, f"exited with code {code}") if not prefix else \
            sys.stdout.write(f"{name} exited with code {code}\n")
        with lock:
            exits[c["Labels"][model.SERVICE]] = code
            if abort or len(exits) == len(found):
                done.set()

    for c in found:
        threading.Thread(target=run, args=(c,), daemon=True).start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        ctx.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        abort = True
    if abort:
        for c in ex.containers(services=services):
            if c.get("State") == "running":
                ex.api.post(f"/containers/{c['Id']}/stop",
                            {"t": timeout} if timeout is not None else None)
    if exit_code_from:
        return exits.get(exit_code_from, 0)
    return 0
