"""The seam through which networks, volumes, resource limits, health checks and restart
policies join a container's lifecycle without the lifecycle knowing them.

An extension is called at five points, in the order the engine registered extensions
(``Engine`` wires them). Each hook may raise a ``minke.errors`` class to refuse the step;
the container service then undoes what it did (a refused ``created`` creates nothing, a
refused ``prepare`` leaves the container as it was before ``start``).

    created  → (start:) prepare → [runc create, start] → started → ... exit → stopped
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

    async def start_failed(self, record: Record) -> None:
        """Undo ``prepare`` after the runtime failed to create or start the container."""

    async def started(self, record: Record) -> None:
        """The container's init runs (``State.Pid`` is set)."""

    async def stopped(self, record: Record) -> None:
        """The container exited (its ``State`` says how); release what ``prepare`` set up.
        Runs before auto-removal and before waiters for the exit are answered."""

    async def removed(self, record: Record) -> None:
        """The container is gone from the store; free what ``created`` recorded."""
