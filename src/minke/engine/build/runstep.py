"""RUN: one step's command in a real container, as dockerd's classic builder runs it.

A container is created from the step's parent image with the step's command, environment
(the image's plus the build args in scope), working directory, user and network mode, its
output (stdout and stderr) is streamed into the build output while it runs, and after a
zero exit its overlay upper directory becomes the step's layer (``layerdiff``). The
container is removed in every case. ``--mount=type=cache,target=`` binds a directory kept
under the builder's root (one per ``id``, default the target); ``type=bind,from=`` binds
another stage's or image's files (a throwaway snapshot of it, read-only unless ``rw``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import re
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minke.engine.images import layerdiff
from minke.engine.runtime.logfile import follow
from minke.errors import InvalidParameter, MinkeError

NETWORK_MODES = {"default": "default", "none": "none", "host": "host", "": "default"}


class StepFailed(MinkeError):
    """A RUN command exited non-zero; ``code`` is its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RunMount:
    type: str
    target: str
    source: str = ""
    from_: str = ""
    id: str = ""
    readonly: bool = True
    extra: dict[str, str] = field(default_factory=dict)


def parse_mount(spec: str) -> RunMount:
    """One ``--mount=`` value: ``type=cache,target=/root/.cache`` and friends."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep and key in ("rw", "readwrite", "ro", "readonly"):
            value = "true"
        fields[key] = value
    kind = fields.pop("type", "bind")
    target = fields.pop("target", "") or fields.pop("dst", "") or fields.pop("destination", "")
    if kind not in ("cache", "bind", "tmpfs", "secret", "ssh"):
        raise InvalidParameter(
            f"unsupported mount type {kind!r} (cache, bind, tmpfs, secret and ssh are)"
        )
    mount_id = fields.pop("id", "")
    if kind == "ssh":
        # The target defaults to /run/buildkit/ssh_agent.N (N: its place among the step's
        # ssh mounts), set by ``default_ssh_targets``.
        return RunMount(kind, target, id=mount_id or "default", extra=fields)
    if kind == "secret":
        # As BuildKit: the id defaults to the target's base name, the target to
        # /run/secrets/<id>; unless required=true a secret the client lacks is skipped.
        if not mount_id and not target:
            raise InvalidParameter(f"mount {spec}: a secret mount needs id= or target=")
        mount_id = mount_id or posixpath.basename(target)
        target = target or f"/run/secrets/{mount_id}"
    if not target:
        raise InvalidParameter(f"mount {spec}: target is required")
    mount = RunMount(kind, target, source=fields.pop("source", "") or fields.pop("src", ""),
                     from_=fields.pop("from", ""), id=mount_id)
    rw = fields.pop("rw", "") or fields.pop("readwrite", "")
    ro = fields.pop("ro", "") or fields.pop("readonly", "")
    mount.readonly = kind == "bind" and rw.lower() != "true" or ro.lower() == "true"
    mount.extra = fields
    return mount


def default_ssh_targets(mounts: list[RunMount]) -> str:
    """Give ssh mounts without a target BuildKit's default; returns the SSH_AUTH_SOCK the
    step gets (the first ssh mount's target), or ""."""
    ssh = [m for m in mounts if m.type == "ssh"]
    for number, mount in enumerate(ssh):
        mount.target = mount.target or f"/run/buildkit/ssh_agent.{number}"
    return ssh[0].target if ssh else ""


def parse_network(value: str) -> str:
    mode = NETWORK_MODES.get(value)
    if mode is None:
        raise InvalidParameter(f"unsupported network mode {value!r} (none, host or default)")
    return mode


@dataclass
class RunRequest:
    image_id: str
    cmd: list[str]
    env: list[str]
    workdir: str
    user: str
    network: str
    binds: list[str]
    created_by: str
    config: dict[str, Any]


async def run(
    engine: Any,
    request: RunRequest,
    *,
    on_start: Callable[[str], Awaitable[None]],
    on_output: Callable[[bytes], Awaitable[None]],
    cache_key: str,
) -> tuple[str, str]:
    """Run the step and commit its layer; returns (container id, new image id).
    Raises ``StepFailed`` with dockerd's text for a non-zero exit."""
    containers = engine.containers
    host: dict[str, Any] = {"NetworkMode": request.network}
    if request.binds:
        host["Binds"] = request.binds
    record = await containers.create({
        "Image": request.image_id,
        "Cmd": request.cmd,
        "Entrypoint": [""],
        "Env": request.env,
        "WorkingDir": request.workdir,
        "User": request.user,
        "AttachStdout": True,
        "AttachStderr": True,
        "Labels": {},
        "HostConfig": host,
    })
    cid = record["Id"]
    try:
        await on_start(cid)
        exited = containers.wait_future(cid, "next-exit")
        await containers.start(cid)
        log = Path(containers.paths(cid)["log"])
        async for entry in follow(log, offset=0, is_running=lambda: not exited.done()):
            await on_output(entry.data)
        final = await exited
        code = int(final["State"]["ExitCode"])
        if code != 0:
            raise StepFailed(
                f"The command '{' '.join(request.cmd)}' returned a non-zero code: {code}", code
            )
        upper = engine.images.snapshots.upper(cid)
        config = dict(request.config)
        image_id = await asyncio.to_thread(
            layerdiff.commit_image, engine.images, parent=request.image_id, upper=upper,
            config=config, history={"created_by": request.created_by},
            fields={"container": cid, "container_config": {**config,
                                                           "Cmd": request.cmd}},
            cache_key=cache_key,
        )
        return cid, image_id
    finally:
        await containers.remove(cid, force=True)


class MountSet:
    """The host side of a RUN step's ``--mount`` flags; ``close`` undoes it."""

    def __init__(self, engine: Any, cache_root: Path,
                 secrets: Callable[[str], Awaitable[bytes | None]] | None = None,
                 ssh: Any = None) -> None:
        self._engine = engine
        self._cache_root = cache_root
        self._secrets = secrets
        self._ssh = ssh  # builder.SshSource
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._snapshots: list[tuple[str, Path]] = []

    async def binds(self, mounts: list[RunMount], resolve_from: Callable[[str], str]) -> list[str]:
        out: list[str] = []
        for mount in mounts:
            target = mount.target
            if mount.type == "cache":
                name = mount.id or target
                host = self._cache_root / hashlib.sha256(name.encode()).hexdigest()[:32]
                host.mkdir(parents=True, exist_ok=True)
                out.append(f"{host}:{target}")
            elif mount.type == "secret":
                host = await self._secret_file(mount)
                if host is not None:
                    out.append(f"{host}:{target}:ro")
            elif mount.type == "ssh":
                host = await self._ssh_socket(mount)
                if host is not None:
                    out.append(f"{host}:{target}")
            elif mount.type == "tmpfs":
                host = self._cache_root.parent / "tmp" / secrets.token_hex(8)
                host.mkdir(parents=True)
                self._snapshots.append(("", host))
                out.append(f"{host}:{target}")
            else:
                if not mount.from_:
                    raise InvalidParameter(
                        "RUN --mount=type=bind needs from=<stage or image> in minke's builder"
                    )
                root = await self._mount_image(resolve_from(mount.from_))
                source = root / mount.source.lstrip("/") if mount.source else root
                out.append(f"{source}:{target}{':ro' if mount.readonly else ''}")
        return out

    async def _secret_file(self, mount: RunMount) -> Path | None:
        """The secret's bytes in a private file to bind; None for an optional secret the
        client does not have."""
        data = await self._secrets(mount.id) if self._secrets is not None else None
        if data is None:
            if mount.extra.get("required", "").lower() in ("true", "1", ""):
                if "required" in mount.extra:
                    raise InvalidParameter(f"secret {mount.id}: not found")
            return None
        folder = self._cache_root.parent / "tmp" / f"secret-{secrets.token_hex(8)}"
        folder.mkdir(mode=0o700, parents=True)
        self._snapshots.append(("", folder))
        path = folder / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        mode = int(mount.extra.get("mode", "0400"), 8)
        os.chown(path, int(mount.extra.get("uid", "0")), int(mount.extra.get("gid", "0")))
        os.chmod(path, mode)
        return path

    async def _ssh_socket(self, mount: RunMount) -> Path | None:
        """A unix socket relaying to the client's ssh agent; None for an optional agent
        the client does not forward."""
        folder = self._cache_root.parent / "tmp" / f"ssh-{secrets.token_hex(8)}"
        folder.mkdir(mode=0o711, parents=True)
        self._snapshots.append(("", folder))
        path = folder / "ssh_auth_sock"
        closer = None
        if self._ssh is not None:
            closer = await self._ssh(mount.id, path, int(mount.extra.get("uid", "0")),
                                     int(mount.extra.get("gid", "0")),
                                     int(mount.extra.get("mode", "0600"), 8))
        if closer is None:
            if mount.extra.get("required", "").lower() in ("true", "1", ""):
                if "required" in mount.extra:
                    raise InvalidParameter(
                        f"no SSH key {mount.id!r} forwarded from the client"
                    )
            return None
        self._closers.append(closer)
        return path

    async def _mount_image(self, image_id: str) -> Path:
        snapshots = self._engine.images.snapshots
        key = f"build-mnt-{secrets.token_hex(8)}"
        target = self._cache_root.parent / "mnt" / key
        await asyncio.to_thread(snapshots.prepare, key, self._engine.images.top_chain_id(image_id))
        self._snapshots.append((key, target))
        await asyncio.to_thread(snapshots.mount, key, target)
        return target

    async def close(self) -> None:
        for closer in self._closers:
            await closer()
        self._closers.clear()
        for key, target in reversed(self._snapshots):
            if key:
                snapshots = self._engine.images.snapshots
                await asyncio.to_thread(snapshots.unmount, target)
                await asyncio.to_thread(snapshots.remove, key)
            shutil.rmtree(target, ignore_errors=True)
        self._snapshots.clear()


def heredoc_command(original_cmd: str, heredocs: list[Any]) -> str:
    """The shell text of a RUN with heredocs: the heredoc alone is the script; otherwise
    the shell reads the heredoc bodies as it would from a script file."""
    stripped = original_cmd.strip()
    if len(heredocs) == 1 and re.fullmatch(r"\d*<<-?[\"']?[A-Za-z0-9_.]+[\"']?", stripped):
        return heredocs[0].content
    text = original_cmd
    for doc in heredocs:
        text += "\n" + doc.content + doc.name
    return text
