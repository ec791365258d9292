"""The seam through which networks, volumes, resource limits, health checks and restart
policies join a container's lifecycle without the lifecycle knowing them.

An extension is called at these points, in the order the engine registered extensions
(``Engine`` wires them). Each hook may raise a ``minke.errors`` class to refuse the step;
the container service then undoes what it did (a refused ``created`` creates nothing, a
refused ``prepare`` leaves the container as it was before ``start``).

    created  → (start:) prepare → [runc create] → before_start → [runc start] → started
               → ... exit → stopped
               (user stop/kill/rm -f:) stopping             (daemon start:) restored
                                                                     remove → removed
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Record = dict[str, Any]


class ContainerExtension:
    """Base with no-op hooks; subclasses override what they need."""

    async def created(self, record: Record) -> None:
        """Validate and record what this extension owns in a new record (``HostConfig``,
        ``Mounts``, ``NetworkSettings``); allocate nothing that ``removed`` cannot free."""

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        """Before the runtime creates the container: set up host resources (network
        namespace, volume mounts, cgroup limits) and amend the OCI ``spec`` for them. The
        root filesystem is mounted at ``rootfs``. Host files (/etc/hosts, resolv.conf) are
        written after every ``prepare`` ran, from the record."""

    async def before_start(self, record: Record) -> None:
        """The runtime has created the container; its process has not run yet. Work that
        ``prepare`` began in the background because the runtime's create does not need it
        (a network's interfaces, only the namespace must exist) overlaps that create and
        must be complete when this returns. Raising fails the start like ``prepare``."""

    async def start_failed(self, record: Record) -> None:
        """Undo ``prepare`` after the runtime failed to create or start the container."""

    async def started(self, record: Record) -> None:
        """The container's init runs (``State.Pid`` is set)."""

    async def stopping(self, record: Record, signal: int) -> None:
        """The user stops, kills (with ``signal``) or force-removes the container, which is
        running or waiting to be restarted: a restart policy must not fight the user (Docker
        cancels the pending restart for the stop signal and SIGKILL). May amend ``State``;
        the service saves the record after the hooks."""

    async def restored(self, record: Record) -> None:
        """After a daemon start, once every record was reconciled with what the monitors
        report (exits that happened meanwhile were handled through ``stopped``)."""

    async def stopped(self, record: Record) -> None:
        """The container exited (its ``State`` says how); release what ``prepare`` set up.
        Runs before auto-removal and before waiters for the exit are answered."""

    async def removed(self, record: Record, *, remove_volumes: bool = False) -> None:
        """The container is gone from the store; free what ``created`` recorded.
        ``remove_volumes`` is Docker's ``rm -v`` (also set by AutoRemove and by the undo of
        a failed create): anonymous volumes go too. A record whose ``State.Status`` is still
        "created" is the undo of a failed create (a real removal marks it "removing")."""
