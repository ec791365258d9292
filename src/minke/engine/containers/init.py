"""The container's PID 1 and the signal that stops it: ``--init`` and ``--stop-signal``.

``--init`` (``HostConfig.Init``) runs a small init as PID 1 that reaps zombies and passes
signals on to the command, as Docker does: the init binary of the host is bind-mounted
read-only at ``/sbin/docker-init`` and the process becomes ``/sbin/docker-init -- <cmd>``.
``Path``/``Args`` of the record stay the user's command, as in Docker's inspect. The binary
must be static (it runs in any image, busybox's included): Debian's ``tini-static`` is used,
else ``catatonit`` (both from ``scripts/install``).

``Config.StopSignal`` is checked at create with Docker's message ("Invalid signal: X"); the
stop itself (signal, ``--stop-timeout``, then SIGKILL) is ``ContainerService.stop``.
"""

from __future__ import annotations

import os
import signal as signals
from pathlib import Path
from typing import Any

from minke.engine.containers.extensions import ContainerExtension, Record
from minke.engine.containers.service import parse_signal
from minke.errors import Unavailable

INIT_PATH = "/sbin/docker-init"  # where Docker mounts its init inside the container
INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/catatonit", "/usr/bin/docker-init")


def find_init_binary(candidates: tuple[str, ...] = INIT_CANDIDATES) -> str:
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise Unavailable(
        "--init: no init binary found (looked for " + ", ".join(candidates)
        + "); install Debian's tini or catatonit"
    )


def add_init(spec: dict[str, Any], binary: str) -> None:
    """Mount ``binary`` at ``/sbin/docker-init`` and make it PID 1 in front of the command."""
    spec["mounts"].append({"destination": INIT_PATH, "type": "bind", "source": binary,
                           "options": ["bind", "ro"]})
    spec["process"]["args"] = [INIT_PATH, "--", *spec["process"]["args"]]


class InitProcess(ContainerExtension):
    """See the module docstring."""

    def __init__(self, init_binary: str | None = None) -> None:
        self._binary = init_binary

    async def created(self, record: Record) -> None:
        stop_signal = record["Config"].get("StopSignal")
        if stop_signal:
            parse_signal(stop_signal, default=signals.SIGTERM)

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        if not record["HostConfig"].get("Init"):
            return
        add_init(spec, self._binary or find_init_binary())
