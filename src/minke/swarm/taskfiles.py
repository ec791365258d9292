"""The secret and config files of one task container (dockerd's ``setupSecretDir`` and
``setupConfigDir``): a per-container tmpfs on the host holding each payload with its
owner and mode, bind-mounted read-only into the container at its target.

Secrets go to ``/run/secrets/<File.Name>`` (an absolute ``File.Name`` is used as is),
configs to ``File.Name`` (relative names under ``/``; the docker CLI defaults it to the
config's name). The tmpfs is mounted ``nodev,nosuid,noexec``, mode 0700, and remounted
read-only once filled, so payloads live in memory only and the container cannot change
them. The agent calls ``prepare`` (or ``plan``, pure, then ``materialise``) before creating the
container, adds the returned mounts to its ``HostConfig.Mounts``, and ``release``s the
directory when the container is removed.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke import errors
from minke.engine.volumes.hostmounts import is_mount_point, mount, unmount
from minke.swarm.ca import DataKey
from minke.swarm.manager.secrets import task_payloads
from minke.swarm.store import Store

SECRETS_DIR = "/run/secrets"
TMPFS_OPTIONS = "nodev,nosuid,noexec,mode=0700"
DEFAULT_MODE = 0o444


@dataclass(frozen=True)
class TaskFile:
    """One file to put in a task container: ``target`` inside it, ``host_name`` in the
    tmpfs, and the payload with its owner and mode."""

    target: str
    host_name: str
    data: bytes
    uid: int
    gid: int
    mode: int


def _owner(value: Any, what: str) -> int:
    """``File.UID``/``GID``: numeric strings in the API ("0" when empty)."""
    text = str(value if value not in (None, "") else "0")
    if not text.isdigit():
        raise errors.InvalidParameter(f"invalid {what} {text!r}: a numeric ID is expected")
    return int(text)


def _target(kind: str, file: dict[str, Any], fallback: str) -> str:
    name = file.get("Name") or fallback
    base = SECRETS_DIR if kind == "secret" else "/"
    target = posixpath.normpath(posixpath.join(base, name))
    if not target.startswith("/") or target == "/":
        raise errors.InvalidParameter(f"invalid {kind} target {name!r}")
    return target


def plan(container_spec: dict[str, Any], secrets: dict[str, bytes],
         configs: dict[str, bytes]) -> list[TaskFile]:
    """The files of a task's ``ContainerSpec.Secrets`` and ``.Configs`` references, given
    the payloads by ID (``manager.secrets.task_payloads``). A reference without ``File``
    (a runtime config, e.g. a credential spec) has no file; two files on one target are
    refused, as SwarmKit's spec validation does."""
    files: list[TaskFile] = []
    seen: set[str] = set()
    for kind, refs, payloads, key, name_key in (
            ("secret", container_spec.get("Secrets") or [], secrets, "SecretID", "SecretName"),
            ("config", container_spec.get("Configs") or [], configs, "ConfigID", "ConfigName")):
        for ref in refs:
            file = ref.get("File")
            if not file:
                continue
            ref_id = ref.get(key) or ""
            if ref_id not in payloads:
                raise errors.NotFound(f"{kind} {ref.get(name_key) or ref_id} not found")
            target = _target(kind, file, ref.get(name_key) or ref_id)
            if target in seen:
                raise errors.InvalidParameter(
                    f"{kind} target {target} is used more than once in the task")
            seen.add(target)
            mode = file.get("Mode")
            files.append(TaskFile(
                target=target, host_name=f"{kind}-{len(files)}-{ref_id}",
                data=payloads[ref_id], uid=_owner(file.get("UID"), "UID"),
                gid=_owner(file.get("GID"), "GID"),
                mode=DEFAULT_MODE if mode is None else int(mode) & 0o7777))
    return files


def mounts(directory: Path, files: list[TaskFile]) -> list[dict[str, Any]]:
    """The ``HostConfig.Mounts`` entries that bind ``files`` from ``directory``."""
    return [{"Type": "bind", "Source": str(directory / f.host_name), "Target": f.target,
             "ReadOnly": True} for f in files]


def materialise(directory: Path, files: list[TaskFile]) -> list[dict[str, Any]]:
    """Fill a fresh tmpfs at ``directory`` with ``files`` and return the mounts for the
    container. Nothing is left mounted if it fails."""
    if not files:
        return []
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    mount("tmpfs", "tmpfs", directory, TMPFS_OPTIONS)
    try:
        for f in files:
            path = directory / f.host_name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, f.data)
                os.fchown(fd, f.uid, f.gid)
                os.fchmod(fd, f.mode)
            finally:
                os.close(fd)
        # Read-only from here on: neither the task nor a bug can change a payload.
        mount("tmpfs", "tmpfs", directory, f"remount,ro,{TMPFS_OPTIONS}")
    except BaseException:
        release(directory)
        raise
    return mounts(directory, files)


def release(directory: Path) -> None:
    """Unmount and remove a task's files (once its container is gone)."""
    if is_mount_point(directory):
        unmount(directory)
    if directory.is_dir():
        for child in directory.iterdir():  # only if the tmpfs never got mounted
            child.unlink()
        directory.rmdir()


async def prepare(store: Store, data_key: DataKey, container_spec: dict[str, Any],
                  directory: Path) -> list[dict[str, Any]]:
    """All of it for one task: read the payloads its ``ContainerSpec`` refers to from the
    store, lay them out at ``directory`` and return the mounts (none if it refers to
    none). ``NotFound`` names a secret or config that is gone (reject the task)."""
    secrets, configs = await task_payloads(store, data_key, container_spec)
    files = plan(container_spec, secrets, configs)
    return await asyncio.to_thread(materialise, directory, files)
