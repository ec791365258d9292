"""``Runc``: the OCI runtime CLI (runc, or crun with ``binary="crun"``) behind ``OCIRuntime``.

Owns the command lines of start/kill/delete/state/pause/resume/ps and the translation of the
runtime's exit status and stderr into ``minke.errors``. ``create`` is not here: the monitor
(``monitor.Conmon``) runs it, so that the container's init becomes the monitor's child.

``start`` of a runc container does what ``runc start`` does without running it (that would
cost a Go process on every container start): a created container's init waits to open
``<root>/<id>/exec.fifo`` for writing; reading the byte it writes lets it run the process, and
removing the FIFO marks the container running (runc tells "created" from "running" by it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal as signals
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.engine.runtime.runtime import OCIRuntime, runtime_message
from minke.errors import Conflict, InternalError, MinkeError, NotFound, Unavailable

# runc (libcontainer/error.go, container_linux.go) and crun wordings for "no such id" and for
# "the container's state forbids this"; both runtimes are matched so crun is a one-line swap.
_NOT_FOUND = re.compile(r"does not exist|error opening file .*/status.*no such file", re.I)
_CONFLICT = re.compile(
    r"not running|not paused|still running|container paused|is paused|cannot start"
    r"|already running|has stopped|already paused|is not created|is stopped",
    re.I,
)


EXEC_FIFO = "exec.fifo"  # runc's libcontainer execFifoFilename
FIFO_POLL = 0.1  # s between checks that a created container's init still lives, as runc


def _alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (not gone, not a zombie)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0:1] != [b"Z"]


def _frozen(paths: dict[str, str]) -> bool:
    """Whether the container with runc's ``cgroup_paths`` is paused (or pausing), per its
    freezer."""
    if paths.get("freezer"):
        file, frozen = Path(paths["freezer"], "freezer.state"), (b"FROZEN", b"FREEZING")
    else:
        file, frozen = Path(paths.get("", ""), "cgroup.freeze"), (b"1",)
    try:
        return file.read_bytes().strip() in frozen
    except OSError:
        return True  # unknown: runc decides


@dataclass(frozen=True)
class _Init:
    """A container's init as runc's state.json records it."""

    stamp: tuple[int, int]  # the file's inode and mtime when read
    pid: int
    start: bytes  # its start time in /proc/<pid>/stat, against pid reuse
    own_pidns: bool  # in a PID namespace of its own
    cgroups: dict[str, str]  # runc's cgroup_paths


class Runc(OCIRuntime):
    """runc driven through its CLI, one short-lived process per call.

    ``binary`` is looked up on PATH once (conmon needs an absolute path for ``-r``); crun
    takes the same flags, so ``Runc(binary="crun", root=...)`` switches runtimes.
    """

    def __init__(self, *, root: Path, binary: str = "runc", name: str | None = None) -> None:
        self.binary = shutil.which(binary) or binary
        self.name = name or Path(binary).name
        self.root = Path(root)
        self._inits: dict[str, _Init] = {}  # container id → its init, per runc's state.json

    def global_args(self) -> list[str]:
        return ["--root", str(self.root)]

    async def start(self, container_id: str) -> None:
        fifo = self.root / container_id / EXEC_FIFO
        if self.name == "runc":
            try:
                fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                pass  # not created, or started: runc words the error
            else:
                try:
                    await self._release_init(container_id, fd)
                finally:
                    os.close(fd)
                fifo.unlink(missing_ok=True)
                return
        await self._run("start", container_id)

    async def _release_init(self, container_id: str, fifo: int) -> None:
        """Read the byte the init writes to its exec FIFO (``runc start``'s way); while none
        comes, check every FIFO_POLL that the init still lives, as runc does."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fifo, lambda: readable.done() or readable.set_result(None))
        try:
            while not readable.done():
                await asyncio.wait({readable}, timeout=FIFO_POLL)
                if not readable.done() and not _alive(self._init_pid(container_id)):
                    break
        finally:
            loop.remove_reader(fifo)
        with contextlib.suppress(BlockingIOError):
            if readable.done() and os.read(fifo, 16):
                return
        raise Conflict(f"{self.name} start {container_id}: container process is already dead")

    def _init_pid(self, container_id: str) -> int | None:
        try:
            state = json.loads((self.root / container_id / "state.json").read_text())
            return int(state["init_process_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        if not all_processes and self.name == "runc" and self._signal_init(container_id, signal):
            return
        flags = ["--all"] if all_processes else []
        await self._run("kill", *flags, container_id, str(int(signal)), target=container_id)

    def _signal_init(self, container_id: str, signal: int) -> bool:
        """What ``runc kill <id> <signal>`` does, without a runc process per signal (``stop``
        sends two, ``compose down`` twenty): the init recorded in state.json, if it is still
        that process (its start time, against pid reuse) and not a zombie, signalled through
        a pidfd, so that a pid reused after the check is never hit. False, and runc decides
        (and words the error), for anything else: no state, a gone init, a PID namespace
        shared with others (runc may signal more than the init), a SIGKILL to a frozen
        container (runc thaws it too)."""
        try:
            init = self._init_of(container_id)
            if not init.own_pidns or (signal == signals.SIGKILL and _frozen(init.cgroups)):
                return False
            pid, start = init.pid, init.start
            fd = os.pidfd_open(pid)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        try:
            fields = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
            if fields[0] == b"Z" or fields[19] != start:
                return False
            signals.pidfd_send_signal(fd, signal)
        except (OSError, IndexError):
            return False
        finally:
            os.close(fd)
        return True

    def _init_of(self, container_id: str) -> _Init:
        """What ``_signal_init`` needs of runc's state.json (some 30 KB of JSON), read again
        only when the file changes."""
        path = self.root / container_id / "state.json"
        info = path.stat()
        stamp = (info.st_ino, info.st_mtime_ns)
        init = self._inits.get(container_id)
        if init is None or init.stamp != stamp:
            state = json.loads(path.read_bytes())
            init = _Init(
                stamp, int(state["init_process_pid"]), str(state["init_process_start"]).encode(),
                any(ns.get("type") == "NEWPID" and not ns.get("path")
                    for ns in state["config"]["namespaces"]),
                dict(state.get("cgroup_paths") or {}))
            self._inits[container_id] = init
        return init

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        self._inits.pop(container_id, None)
        if not (self.root / container_id).exists():
            # runc keeps a container's state in <root>/<id>: without it there is nothing to
            # delete, and the engine calls delete on every start and cleanup path, so skip
            # spawning runc just to hear "does not exist".
            return
        flags = ["--force"] if force else []
        try:
            await self._run("delete", *flags, container_id)
        except NotFound:
            pass  # idempotent: the engine deletes on every cleanup path, possibly twice

    async def state(self, container_id: str) -> dict[str, Any] | None:
        try:
            out = await self._run("state", container_id)
        except NotFound:
            return None
        state = self._json(out, "state", container_id)
        if not isinstance(state, dict):
            raise InternalError(f"{self.name} state {container_id}: not an object: {state!r:.200}")
        return state

    async def pause(self, container_id: str) -> None:
        await self._run("pause", container_id)

    async def resume(self, container_id: str) -> None:
        await self._run("resume", container_id)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        # runc reads the new linux.resources from a file (-r); it is tiny and short-lived.
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="resources-") as f:
            json.dump(resources, f)
            f.flush()
            await self._run("update", "--resources", f.name, container_id)

    async def ps(self, container_id: str) -> list[int]:
        out = await self._run("ps", "--format", "json", container_id)
        pids = self._json(out, "ps", container_id)
        # runc prints `null` for a stopped container
        return [int(p) for p in pids or []]

    async def _run(self, subcommand: str, *args: str, target: str | None = None) -> bytes:
        """Run ``subcommand``; errors name ``target``, by default the last argument (the
        container id for every subcommand but kill, whose last is the signal)."""
        argv = [self.binary, *self.global_args(), subcommand, *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise Unavailable(f"cannot run OCI runtime {self.binary}: {exc}") from exc
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise self._error(subcommand, target or args[-1], proc.returncode or 0, err)
        return out

    def _error(self, subcommand: str, container_id: str, rc: int, stderr: bytes) -> MinkeError:
        text = runtime_message(stderr) or f"exit status {rc}"
        message = f"{self.name} {subcommand} {container_id}: {text}"
        if _NOT_FOUND.search(text):
            return NotFound(message)
        if _CONFLICT.search(text):
            return Conflict(message)
        return InternalError(message)

    def _json(self, out: bytes, subcommand: str, container_id: str) -> Any:
        try:
            return json.loads(out)
        except ValueError as exc:
            raise InternalError(
                f"{self.name} {subcommand} {container_id}: unreadable output {out[:200]!r}"
            ) from exc
