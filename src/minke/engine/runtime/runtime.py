"""The OCI runtime seam: what minke asks of runc (or crun), and the records it gets back.

Owns the ``OCIRuntime`` Protocol and ``ExitStatus``. Knows nothing of how a container is
monitored while it runs (``monitor.py``) or how its bundle is built (the container manager).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

EXIT_UNKNOWN = -1  # exit code when no monitor saw the exit (conmon killed, --timeout fired)


@dataclass(frozen=True)
class ExitStatus:
    """How a container's init process ended, as the per-container monitor recorded it."""

    code: int  # exit status, or 128+signal; EXIT_UNKNOWN (-1) if unknown
    oom_killed: bool  # the kernel OOM killer acted on the container's memory cgroup
    finished_at: float  # unix time in seconds: the exit file's mtime


class OCIRuntime(Protocol):
    """An OCI runtime CLI (runc, crun) driven by container id.

    Lifecycle: the monitor runs ``<binary> <global_args()> create`` (so that the container's
    init becomes the monitor's child); the engine then calls ``start``, later ``kill``, and
    finally ``delete`` once the monitor has recorded the exit. Between those, ``state``,
    ``pause``/``resume`` and ``ps`` inspect or freeze the container. Every call names the
    container by id only; the runtime keeps its own state under ``root``.

    Errors: an unknown id raises ``NotFound`` (except ``delete``, which is idempotent, and
    ``state``, which returns None); an operation the container's state forbids (kill or pause
    of a stopped container, start of a started one) raises ``Conflict``; any other failure
    raises ``InternalError`` whose message is the runtime's own error text.
    """

    name: str  # short name, as Docker reports it: "runc", "crun"
    binary: str  # the executable, an absolute path when it could be resolved
    root: Path  # the runtime's state directory (runc --root), e.g. /run/minke/runc

    def global_args(self) -> list[str]:
        """Flags that go before every subcommand; conmon gets each as a --runtime-arg."""
        ...

    async def start(self, container_id: str) -> None:
        """Run the user process of a created container. Fails with the runtime's message."""
        ...

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        """Send ``signal`` to the init (or, with all_processes, every process in the cgroup)."""
        ...

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove the runtime's state and cgroups. An unknown id is not an error."""
        ...

    async def state(self, container_id: str) -> dict[str, Any] | None:
        """The runtime's state JSON (id, pid, status, bundle ...); None for an unknown id."""
        ...

    async def pause(self, container_id: str) -> None:
        """Freeze every process of the container (cgroup freezer)."""
        ...

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container."""
        ...

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Apply new OCI ``linux.resources`` (memory, cpu, pids, blockIO) to a running
        container's cgroup (``docker update``)."""
        ...

    async def ps(self, container_id: str) -> list[int]:
        """Host PIDs of the container's processes; empty when it has stopped."""
        ...


# runc logs with logrus' text format: time="..." level=error msg="..." (msg quoted Go-style
# when it has spaces). conmon forwards that same stderr in its sync-pipe message.
_LOGRUS_MSG = re.compile(r'\blevel=(\w+)\s+msg=("(?:[^"\\]|\\.)*"|\S+)')


def runtime_message(stderr: str | bytes) -> str:
    """Reduce an OCI runtime's stderr to its error text, one line per message.

    logrus lines keep only their ``msg`` (unquoted); other lines (crun, usage text) are kept
    as they are. Debug/info/warning logrus lines are dropped when an error line is present.
    """
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    errors: list[str] = []
    others: list[str] = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        match = _LOGRUS_MSG.search(line)
        if match is None:
            errors.append(line)
            continue
        level, msg = match.groups()
        if msg.startswith('"'):
            msg = _unquote_go(msg)
        (errors if level in ("error", "fatal", "panic") else others).append(msg)
    return "\n".join(errors or others)


def _unquote_go(quoted: str) -> str:
    # Go's strconv.Quote output is JSON for everything runc prints except \x and \a escapes.
    try:
        value = json.loads(quoted)
    except ValueError:
        return quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value if isinstance(value, str) else quoted
