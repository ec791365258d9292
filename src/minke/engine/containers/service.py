"""Container lifecycle: create, start, stop, kill, wait, remove, rename, attach, logs, top.

Owns the container records and the state machine created → running → exited (→ removed),
and the watchers that notice exits. Delegates processes to the runtime and its monitor
(``engine.runtime``), root filesystems to the snapshotter and images to ``ImageService``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import signal as signals
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from minke.engine.cgroups import Hierarchy, oom_kills
from minke.engine.containers import config as cfg
from minke.engine.containers import hostfiles, naming, views
from minke.engine.containers.extensions import ContainerExtension
from minke.engine.containers.phases import Phases
from minke.engine.containers.rootfs import resolve_in_root, resolve_user
from minke.engine.containers.spec import runtime_spec
from minke.engine.events import EventBus
from minke.engine.fsutil import discard
from minke.engine.runtime import AttachStream, Conmon, ExitStatus, OCIRuntime
from minke.engine.state import StateDB
from minke.errors import (
    Conflict,
    InternalError,
    InvalidParameter,
    MinkeError,
    NoSuchContainer,
    NotFound,
    NotModified,
)

log = logging.getLogger(__name__)

Record = dict[str, Any]
STOP_GRACE_AFTER_KILL = 10.0  # s to wait for the exit after SIGKILL before giving up


def parse_signal(value: str | int | None, default: int = signals.SIGKILL) -> int:
    """A signal given as a number, "KILL" or "SIGKILL", as ``docker kill -s`` takes it."""
    if value is None or value == "":
        return default
    if isinstance(value, int) or str(value).isdigit():
        number = int(value)
        if not 0 < number < 65:
            raise InvalidParameter(f"Invalid signal: {value}")
        return number
    name = str(value).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidParameter(f"Invalid signal: {value}") from None


def _start_error(path: str, message: str) -> tuple[int, MinkeError]:
    """Docker's mapping of a failed start to an exit code and error class (moby
    ``translateContainerdStartErr``); the CLI picks its own exit code from the same text."""
    text = f"OCI runtime create failed: {message}"
    if path in message and (
        "executable file not found" in message or "no such file or directory" in message
    ):
        return 127, InvalidParameter(text)
    if "permission denied" in message:
        return 126, InvalidParameter(text)
    if "not a directory" in message:
        return 127, InvalidParameter(
            text + ": Are you trying to mount a directory onto a file (or vice-versa)? "
            "Check if the specified host path exists and is the expected type"
        )
    return 128, InternalError(text)


def _own_pid_namespace(record: Record) -> bool:
    """Whether the container's init had a PID namespace of its own: then the kernel has
    killed and reaped every other process in it by the time the init's exit is seen."""
    mode = record["HostConfig"].get("PidMode") or ""
    return mode != "host" and not mode.startswith("container:")


def _console_size(record: Record) -> tuple[int, int] | None:
    """``HostConfig.ConsoleSize`` as the CLI sends it with create, so that a TTY has its
    size from the first instruction on (the resize request only follows start)."""
    size = record["HostConfig"].get("ConsoleSize") or [0, 0]
    return (int(size[0]), int(size[1])) if len(size) == 2 and all(size) else None


class Attachment:
    """A client's claim on a container's output, made before the 101 answer so that a
    ``start`` arriving right after it finds the client registered and loses no output."""

    def __init__(self, future: asyncio.Future[AttachStream | None]) -> None:
        self._future = future

    async def stream(self) -> AttachStream | None:
        """The live stream once the container runs; None if it is not running (any more)."""
        return await self._future

    def cancel(self) -> None:
        if not self._future.done():
            self._future.cancel()


class ContainerService:
    """Every container of one daemon. Public methods take names, ids or id prefixes."""

    def __init__(
        self, *, data_root: Path, exec_root: Path, db: StateDB, events: EventBus, images: Any,
        snapshots: Any, runtime: OCIRuntime, monitor: Conmon, cgroup_parent: str = "minke",
        extensions: list[ContainerExtension] | None = None,
    ) -> None:
        self._data_root = data_root / "containers"
        self._exec_root = exec_root / "containers"
        # removed containers' directories, deleted in the background (fsutil.discard); one
        # per filesystem, emptied here of what a crash left
        self._trash = (data_root / "containers-trash", exec_root / "containers-trash")
        for trash in self._trash:
            shutil.rmtree(trash, ignore_errors=True)
        self._db = db
        self._events = events
        self._images = images
        self._snapshots = snapshots
        self.runtime = runtime
        self.monitor = monitor
        self._cgroup_parent = cgroup_parent.strip("/")
        self._hierarchy: Hierarchy | None = None  # detected on the first exit that needs it
        self._records: dict[str, Record] = {d["Id"]: d for d in db.all_docs("containers")}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._exit_waiters: defaultdict[str, list[asyncio.Future[Record]]] = defaultdict(list)
        self._removal_waiters: defaultdict[str, list[asyncio.Future[Record]]] = defaultdict(list)
        self._attach_waiters: defaultdict[str, list[asyncio.Future[AttachStream | None]]] = (
            defaultdict(list)
        )
        self._pending_size: dict[str, tuple[int, int]] = {}
        # the runtime's clean-up of exited auto-remove containers, awaited by their removal
        self._deleting: dict[str, asyncio.Future[None]] = {}
        self.extensions: list[ContainerExtension] = list(extensions or [])
        images.set_in_use_check(self.users_of_image)

    # -- lookup ---------------------------------------------------------------------------

    def get(self, ref: str) -> Record:
        """By full id, then exact name, then unique id prefix (Docker's order)."""
        if ref in self._records:
            return self._records[ref]
        name = ref.lstrip("/")
        for record in self._records.values():
            if record["Name"] == "/" + name:
                return record
        matches = [r for r in self._records.values() if r["Id"].startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise NoSuchContainer(ref)

    def find(self, container_id: str) -> Record | None:
        """The record with exactly this id, or None (no prefix or name matching)."""
        return self._records.get(container_id)

    def all(self) -> list[Record]:
        return sorted(self._records.values(), key=lambda r: r["Created"], reverse=True)

    def users_of_image(self, image_id: str) -> list[str]:
        return [r["Id"] for r in self._records.values() if r["Image"] == image_id]

    def paths(self, container_id: str) -> dict[str, Path]:
        base = self._data_root / container_id
        return {
            "dir": base,
            "rootfs": base / "rootfs",
            "log": base / "container.log",
            "hosts": base / "hosts",
            "hostname": base / "hostname",
            "resolv.conf": base / "resolv.conf",
            "bundle": self._exec_root / container_id,
        }

    def _save(self, record: Record) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO containers(id, name, doc) VALUES(?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET name=excluded.name, doc=excluded.doc",
                (record["Id"], record["Name"].lstrip("/"), json.dumps(record)),
            )
        self._records[record["Id"]] = record

    def save(self, record: Record) -> None:
        """Persist a record an extension amended outside of a hook (health status, restart
        bookkeeping)."""
        self._save(record)

    @contextlib.asynccontextmanager
    async def mounted_rootfs(self, ref: str) -> AsyncIterator[tuple[Record, Path]]:
        """The container's root filesystem as a host path, for ``docker cp`` and export:
        the live mount of a running container, or a mount made for the duration (under the
        container's lock, so that it cannot start meanwhile) of a stopped one."""
        record = self.get(ref)
        cid = record["Id"]
        if record["State"]["Running"]:
            yield record, self.paths(cid)["rootfs"]
            return
        async with self._locks[cid]:
            if cid not in self._records or record["State"]["Status"] == "removing":
                raise NoSuchContainer(ref)
            if record["State"]["Running"]:  # started while we waited for the lock
                yield record, self.paths(cid)["rootfs"]
                return
            rootfs = self.paths(cid)["rootfs"]
            await asyncio.to_thread(self._snapshots.mount, cid, rootfs)
            try:
                yield record, rootfs
            finally:
                await asyncio.to_thread(self._snapshots.unmount, rootfs)

    async def _stopping(self, record: Record, signal: int) -> None:
        """The user stops, kills or force-removes the container: extensions hear it first
        (a restart policy must not fight the user) and may amend the record, saved here."""
        for extension in self.extensions:
            await extension.stopping(record, signal)
        if record["Id"] in self._records:
            self._save(record)

    def _event(self, record: Record, action: str, **extra: str) -> None:
        attrs = {
            "image": record["Config"]["Image"],
            "name": record["Name"].lstrip("/"),
            **(record["Config"].get("Labels") or {}),
            **extra,
        }
        self._events.publish("container", action, record["Id"], attrs)

    def _check_name_free(self, name: str) -> None:
        for other in self._records.values():
            if other["Name"] == "/" + name:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other["Id"]}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )

    # -- create ---------------------------------------------------------------------------

    async def create(self, request: dict[str, Any], name: str | None = None) -> Record:
        if not request.get("Image"):
            raise InvalidParameter("Config.Image: no image given")
        phases = Phases("create")
        image_id = self._images.resolve(request["Image"])
        image_config = (self._images.config(image_id).get("config") or {})
        if name:
            name = naming.validate_name(name)
        else:
            name = naming.random_name()
            while any(r["Name"] == "/" + name for r in self._records.values()):
                name = naming.random_name()
        self._check_name_free(name)
        container_id = naming.new_id()
        paths = self.paths(container_id)
        record = cfg.new_record(
            container_id=container_id, name=name, image_id=image_id,
            image_config=image_config, request=request,
            paths={k: str(v) for k, v in paths.items()},
        )
        paths["dir"].mkdir(parents=True, exist_ok=True)
        phases.mark("record")
        try:
            await asyncio.to_thread(
                self._snapshots.prepare, container_id, self._images.top_chain_id(image_id)
            )
            phases.mark("snapshot")
            for extension in self.extensions:
                await extension.created(record)
                phases.mark(type(extension).__name__)
            upper = self._snapshots.upper(container_id)
            record["GraphDriver"]["Data"] = {
                "MergedDir": str(paths["rootfs"]), "UpperDir": str(upper),
                "WorkDir": str(upper.parent / "work"),
            }
            self._save(record)
            phases.mark("save")
        except BaseException:
            for extension in reversed(self.extensions):
                with contextlib.suppress(MinkeError):
                    await extension.removed(record, remove_volumes=True)
            shutil.rmtree(paths["dir"], ignore_errors=True)
            with contextlib.suppress(NotFound):
                await asyncio.to_thread(self._snapshots.remove, container_id)
            raise
        self._event(record, "create")
        phases.done(container_id)
        return record

    # -- start ----------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        record = self.get(ref)
        async with self._locks[record["Id"]]:
            record = self.get(record["Id"])
            status = record["State"]["Status"]
            if status in ("running", "paused"):
                raise NotModified("container already started")
            if status == "removing":
                raise Conflict(
                    f"container {record['Id']} is marked for removal and cannot be started"
                )
            await self._start_locked(record)

    async def _start_locked(self, record: Record) -> None:
        cid = record["Id"]
        paths = self.paths(cid)
        bundle = paths["bundle"]
        prepared = False
        phases = Phases("start")
        try:
            bundle.mkdir(parents=True, exist_ok=True)
            # An auto-removed container's writes are gone with it: no syncing them at exit.
            await asyncio.to_thread(self._snapshots.mount, cid, paths["rootfs"],
                                    volatile=bool(record["HostConfig"].get("AutoRemove")))
            prepared = True
            phases.mark("mount")
            spec = runtime_spec(
                record, rootfs=paths["rootfs"],
                user=resolve_user(
                    paths["rootfs"], record["Config"].get("User") or "",
                    record["HostConfig"].get("GroupAdd"),
                ),
                cgroups_path=self._cgroups_path(cid),
                console_size=self._pending_size.get(cid) or _console_size(record),
            )
            phases.mark("spec")
            for extension in self.extensions:
                await extension.prepare(record, spec, paths["rootfs"])
                phases.mark(type(extension).__name__)
            await asyncio.to_thread(self._prepare_rootfs, record)
            (bundle / "config.json").write_text(json.dumps(spec))
            phases.mark("files")
        except BaseException as exc:
            await self._start_failed(record, exc, prepared)
            raise
        by_runtime = True  # whether a failure is the runtime's (Docker words those its way)
        try:
            pid = await self._create(record, bundle, paths["log"])
            phases.mark("create")
            by_runtime = False
            for extension in self.extensions:
                await extension.before_start(record)
            phases.mark("before_start")
            by_runtime = True
            await self._begin(record, bundle)
            phases.mark("runc-start")
        except MinkeError as exc:
            await self._start_failed(record, exc, prepared)
            if not by_runtime:
                raise
            raise self._classify_start_error(record, exc) from exc
        except BaseException as exc:
            await self._start_failed(record, exc, prepared)
            raise
        state = record["State"]
        state.update(
            Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False,
            Dead=False, Pid=pid, ExitCode=0, Error="", StartedAt=cfg.rfc3339(),
            FinishedAt=cfg.ZERO_TIME,
        )
        self._save(record)
        self._event(record, "start")
        self._watch(cid)
        phases.mark("save")
        for extension in self.extensions:
            await extension.started(record)
        phases.mark("started")
        phases.done(cid)

    async def _create(self, record: Record, bundle: Path, log_path: Path) -> int:
        """Have the runtime create the container under its monitor; its init's pid."""
        cid = record["Id"]
        self.monitor.clear_exit(cid)
        await self.runtime.delete(cid, force=True)
        config = record["Config"]
        pid = await self.monitor.create(
            container_id=cid, name=record["Name"].lstrip("/"), bundle=bundle,
            tty=bool(config.get("Tty")), stdin=bool(config.get("OpenStdin")),
            stdin_once=bool(config.get("StdinOnce")),
            log_path=log_path if cfg.log_file(record) else None,  # None: --log-driver none
        )
        return pid

    async def _begin(self, record: Record, bundle: Path) -> None:
        """Connect waiting attach clients, then run the created container's process."""
        cid = record["Id"]
        await self._connect_attachers(cid, bundle)
        if cid in self._pending_size:
            self.monitor.resize(bundle, *self._pending_size[cid])
        await self.runtime.start(cid)

    def _classify_start_error(self, record: Record, exc: MinkeError) -> MinkeError:
        code, error = _start_error(record["Path"], exc.message)
        record["State"].update(ExitCode=code, Error=error.message)
        self._save(record)
        return error

    async def _start_failed(self, record: Record, exc: BaseException, mounted: bool) -> None:
        cid = record["Id"]
        log.info("start of %s failed: %s", cid[:12], exc)
        for future in self._attach_waiters.pop(cid, []):
            if not future.done():
                future.set_result(None)
        await self.runtime.delete(cid, force=True)
        for extension in reversed(self.extensions):
            try:
                await extension.start_failed(record)
            except MinkeError as undo_exc:
                log.warning("undoing start of %s: %s", cid[:12], undo_exc)
        if mounted:
            await asyncio.to_thread(self._snapshots.unmount, self.paths(cid)["rootfs"])
        if record["HostConfig"].get("AutoRemove"):
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self._auto_remove(cid))
            )

    def _prepare_rootfs(self, record: Record) -> None:
        """Files Docker writes for each start: hostname, hosts, resolv.conf, the workdir."""
        paths = self.paths(record["Id"])
        hostfiles.write(record, hosts=paths["hosts"], hostname=paths["hostname"],
                        resolv_conf=paths["resolv.conf"])
        workdir = record["Config"].get("WorkingDir")
        if workdir:
            target = resolve_in_root(paths["rootfs"], workdir)
            target.mkdir(parents=True, exist_ok=True, mode=0o755)

    async def _connect_attachers(self, cid: str, bundle: Path) -> None:
        for future in self._attach_waiters.pop(cid, []):
            if future.done():
                continue
            try:
                future.set_result(await self.monitor.attach(bundle))
            except MinkeError as exc:
                future.set_exception(exc)

    # -- exits ----------------------------------------------------------------------------

    def _watch(self, cid: str) -> None:
        self._watchers[cid] = asyncio.create_task(
            self._wait_and_reap(cid), name=f"watch {cid[:12]}"
        )

    async def _wait_and_reap(self, cid: str) -> None:
        bundle = self.paths(cid)["bundle"]
        status = await self.monitor.wait_exit(cid, bundle)
        await self._handle_exit(cid, status)

    async def _handle_exit(self, cid: str, status: ExitStatus) -> None:
        record = self._records.get(cid)
        if record is None:
            return
        phases = Phases("exit")
        async with self._locks[cid]:
            self._watchers.pop(cid, None)
            # before the runtime's delete removes the cgroup that holds the count
            status = self._with_missed_oom(cid, status)
            record["State"].update(
                Status="exited", Running=False, Paused=False, Restarting=False, Pid=0,
                ExitCode=status.code if status.code >= 0 else 255, OOMKilled=status.oom_killed,
                FinishedAt=cfg.rfc3339(status.finished_at),
            )
            self._save(record)
            phases.mark("save")
            deleting = asyncio.ensure_future(self._delete_from_runtime(cid))
            if not _own_pid_namespace(record):
                # Processes the init left behind live on until the runtime kills them, and
                # may hold the root filesystem and volumes: release those only afterwards.
                await deleting
            # the extensions release what they set up (none of it is in the root filesystem)
            # while the root filesystem is unmounted
            unmounting = asyncio.ensure_future(
                asyncio.to_thread(self._snapshots.unmount, self.paths(cid)["rootfs"]))
            for extension in reversed(self.extensions):
                try:
                    await extension.stopped(record)
                except MinkeError as exc:
                    log.warning("after exit of %s: %s", cid[:12], exc)
                phases.mark(type(extension).__name__)
            await unmounting
            phases.mark("unmount")
            if record["HostConfig"].get("AutoRemove") and not deleting.done():
                # Its removal follows at once and waits for this after answering its own
                # waiters: nothing of the runtime's state shows through the API.
                self._deleting[cid] = deleting
            else:
                await deleting
            phases.mark("runc-delete")
            if status.oom_killed:
                self._event(record, "oom")
            self._event(record, "die", exitCode=str(record["State"]["ExitCode"]))
            for future in self._exit_waiters.pop(cid, []):
                if not future.done():
                    future.set_result(record)
        phases.done(cid)
        if record["HostConfig"].get("AutoRemove"):
            await self._auto_remove(cid)

    def _cgroups_path(self, cid: str) -> str:
        """The container's cgroup, as its spec gives it to the runtime."""
        return f"/{self._cgroup_parent}/{cid}"

    def _with_missed_oom(self, cid: str, status: ExitStatus) -> ExitStatus:
        """``status`` with an OOM kill conmon missed (it can quit at the exit before handling
        its OOM event): a SIGKILL exit counts as one when the container's memory cgroup
        recorded an OOM kill. One small file read, only for exits by SIGKILL."""
        if status.oom_killed or status.code != 128 + signals.SIGKILL:
            return status
        if self._hierarchy is None:
            self._hierarchy = Hierarchy.detect()
        path = self._cgroups_path(cid)
        if oom_kills(self._hierarchy.dirs({"memory": path, "": path})):
            return dataclasses.replace(status, oom_killed=True)
        return status

    async def _delete_from_runtime(self, cid: str) -> None:
        try:
            await self.runtime.delete(cid, force=True)
        except MinkeError as exc:
            log.warning("runc delete %s: %s", cid[:12], exc)

    async def _auto_remove(self, cid: str) -> None:
        try:
            # Docker's AutoRemove removes the container's anonymous volumes with it.
            await self.remove(cid, force=True, remove_volumes=True)
        except MinkeError as exc:
            log.warning("auto-remove of %s: %s", cid[:12], exc)

    async def recover(self) -> None:
        """After a daemon (re)start: re-watch containers whose monitor lives on, and record
        the exit of those that ended while no daemon was watching."""
        if self.runtime.root.is_dir():
            for state in sorted(self.runtime.root.iterdir()):
                if state.name not in self._records:
                    # an auto-removed container whose runtime clean-up a crash cut short
                    await self._delete_from_runtime(state.name)
        for record in list(self._records.values()):
            cid = record["Id"]
            if record["State"]["Status"] == "removing":
                await self.remove(cid, force=True)
                continue
            if not record["State"]["Running"]:
                continue
            bundle = self.paths(cid)["bundle"]
            if self.monitor.is_running(cid, bundle):
                self._watch(cid)
            else:
                status = self.monitor.exit_status(cid) or ExitStatus(-1, False, time.time())
                await self._handle_exit(cid, status)
        for record in list(self._records.values()):
            for extension in self.extensions:
                try:
                    await extension.restored(record)
                except MinkeError as exc:
                    log.warning("restoring %s: %s", record["Id"][:12], exc)

    # -- stop, kill, wait, restart --------------------------------------------------------

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        record = self.get(ref)
        if record["State"]["Restarting"]:
            # Waiting for its restart: cancelling that is the whole stop (Docker's too).
            await self._stopping(record, signals.SIGKILL)
            if not record["State"]["Running"]:
                self._event(record, "stop")
                return
        if not record["State"]["Running"]:
            raise NotModified("container already stopped")
        cid = record["Id"]
        if timeout is None:
            timeout = record["Config"].get("StopTimeout")
        if timeout is None:
            timeout = cfg.DEFAULT_STOP_TIMEOUT
        stop_signal = parse_signal(
            signal or record["Config"].get("StopSignal"), default=signals.SIGTERM
        )
        await self._stopping(record, stop_signal)
        exited = self._end_of_run(record)
        await self._signal(record, stop_signal)
        if record["State"]["Paused"]:
            # A frozen process cannot act on the signal: thaw it, as Docker does.
            with contextlib.suppress(MinkeError):
                await self.runtime.resume(cid)
        try:
            async with asyncio.timeout(None if timeout < 0 else timeout):
                await asyncio.shield(exited)
        except TimeoutError:
            log.info("%s did not stop after %ss, killing it", cid[:12], timeout)
            await self._kill_and_wait(record)
        self._event(record, "stop")

    async def _signal(self, record: Record, signal: int) -> None:
        try:
            await self.runtime.kill(record["Id"], signal, all_processes=False)
        except (Conflict, NotFound):
            # It exited between our check and the signal ("not running"), and its runtime
            # state may be deleted already ("does not exist"): the watcher records the exit.
            pass

    def _end_of_run(self, record: Record) -> asyncio.Future[Record]:
        """The exit of the current run: registered now, and resolved at once if the watcher
        has handled the exit already (while the caller awaited something)."""
        future = self._next_exit(record["Id"])
        if not record["State"]["Running"]:
            future.set_result(record)
        return future

    async def _kill_and_wait(self, record: Record) -> None:
        """SIGKILL, then wait for the watcher to record the exit, as moby's ``kill`` waits
        (10 s) before it answers (``kill``, ``rm -f``, a ``stop`` that timed out); a paused
        container is thawed after the signal. The ``kill`` event comes before ``die``."""
        exited = self._end_of_run(record)
        await self._signal(record, signals.SIGKILL)
        self._event(record, "kill", signal=str(int(signals.SIGKILL)))
        if record["State"]["Paused"]:
            with contextlib.suppress(MinkeError):
                await self.runtime.resume(record["Id"])
        try:
            async with asyncio.timeout(STOP_GRACE_AFTER_KILL):
                await exited
        except TimeoutError:
            raise InternalError(
                "tried to kill container, but did not receive an exit event") from None

    async def kill(self, ref: str, signal: str | None = None) -> None:
        record = self.get(ref)
        number = parse_signal(signal)
        if record["State"]["Restarting"]:
            await self._stopping(record, number)
            if not record["State"]["Running"]:
                self._event(record, "kill", signal=str(number))
                return
        if not record["State"]["Running"]:
            raise Conflict(
                f"Cannot kill container: {ref}: Container {record['Id']} is not running"
            )
        await self._stopping(record, number)
        if number == signals.SIGKILL:
            # Docker answers a SIGKILL once the container has stopped: clients reload it
            # right after and expect it exited.
            await self._kill_and_wait(record)
            return
        await self.runtime.kill(record["Id"], number)
        self._event(record, "kill", signal=str(number))

    def _next_exit(self, cid: str) -> asyncio.Future[Record]:
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._exit_waiters[cid].append(future)
        return future

    def _removal(self, cid: str) -> asyncio.Future[Record]:
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._removal_waiters[cid].append(future)
        return future

    def wait_future(self, ref: str, condition: str = "not-running") -> asyncio.Future[Record]:
        """A future for ``POST /containers/{id}/wait``: registered now, so that a wait sent
        before ``start`` sees the exit that follows it."""
        record = self.get(ref)
        cid = record["Id"]
        if condition in ("", "not-running"):
            if not record["State"]["Running"]:
                future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
                future.set_result(record)
                return future
            return self._next_exit(cid)
        if condition == "next-exit":
            return self._next_exit(cid)
        if condition == "removed":
            return self._removal(cid)
        raise InvalidParameter(f"invalid condition: {condition!r}")

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        record = self.get(ref)
        if record["State"]["Running"] or record["State"]["Restarting"]:
            await self.stop(record["Id"], timeout)
        await self.start(record["Id"])
        self._event(record, "restart")

    async def pause(self, ref: str) -> None:
        record = self.get(ref)
        if not record["State"]["Running"]:
            raise Conflict(f"Container {record['Id']} is not running")
        if record["State"]["Paused"]:
            raise Conflict(f"Container {record['Id']} is already paused")
        await self.runtime.pause(record["Id"])
        record["State"].update(Status="paused", Paused=True)
        self._save(record)
        self._event(record, "pause")

    async def unpause(self, ref: str) -> None:
        record = self.get(ref)
        if not record["State"]["Paused"]:
            raise Conflict(f"Container {record['Id']} is not paused")
        await self.runtime.resume(record["Id"])
        record["State"].update(Status="running", Paused=False)
        self._save(record)
        self._event(record, "unpause")

    # -- remove, rename -------------------------------------------------------------------

    async def remove(
        self, ref: str, *, force: bool = False, remove_volumes: bool = False
    ) -> None:
        record = self.get(ref)
        cid = record["Id"]
        state = record["State"]
        if state["Status"] == "removing" and self._locks[cid].locked():
            raise Conflict(f"removal of container {cid} is already in progress")
        if (state["Running"] or state["Restarting"]) and not force:
            verb = "paused" if state["Paused"] else (
                "restarting" if state["Restarting"] else "running")
            raise Conflict(
                f"You cannot remove a {verb} container {cid}. Stop the container before "
                "attempting removal or force remove"
            )
        if state["Running"] or state["Restarting"]:
            await self._stopping(record, signals.SIGKILL)
        if state["Running"]:
            await self._kill_and_wait(record)
        phases = Phases("remove")
        async with self._locks[cid]:
            if cid not in self._records:
                return
            state["Status"] = "removing"
            self._save(record)
            phases.mark("save")
            for future in self._attach_waiters.pop(cid, []):
                if not future.done():
                    future.set_result(None)
            deleting = self._deleting.pop(cid, None)
            if deleting is None:
                await self.runtime.delete(cid, force=True)
            phases.mark("runc-delete")
            await asyncio.to_thread(self._remove_files, cid)
            phases.mark("files")
            with self._db.transaction() as db:
                db.execute("DELETE FROM containers WHERE id=?", (cid,))
            del self._records[cid]
            self._pending_size.pop(cid, None)
            phases.mark("delete")
        self._locks.pop(cid, None)
        for extension in reversed(self.extensions):
            try:
                await extension.removed(record, remove_volumes=remove_volumes)
            except MinkeError as exc:
                log.warning("after removal of %s: %s", cid[:12], exc)
            phases.mark(type(extension).__name__)
        phases.done(cid)
        self._event(record, "destroy")
        for future in self._exit_waiters.pop(cid, []):
            if not future.done():
                future.set_result(record)
        for future in self._removal_waiters.pop(cid, []):
            if not future.done():
                future.set_result(record)
        if deleting is not None:
            await deleting

    def _remove_files(self, cid: str) -> None:
        """Everything of the container on disk (in one worker thread: each hop costs)."""
        paths = self.paths(cid)
        self._snapshots.unmount(paths["rootfs"])
        with contextlib.suppress(NotFound):  # a removal interrupted earlier got this far
            self._snapshots.remove(cid)
        self.monitor.clear_exit(cid)
        discard(paths["bundle"], self._trash[1])
        discard(paths["dir"], self._trash[0])

    def rename(self, ref: str, new_name: str) -> None:
        record = self.get(ref)
        new_name = naming.validate_name(new_name)
        old_name = record["Name"].lstrip("/")
        if new_name == old_name:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        self._check_name_free(new_name)
        record["Name"] = "/" + new_name
        self._save(record)
        self._event(record, "rename", oldName="/" + old_name)

    # -- attach, resize, logs, top --------------------------------------------------------

    async def attach(self, ref: str) -> Attachment:
        """Claim the container's live output: now for a running container, at its next start
        for a created or exited one; None for one being removed."""
        record = self.get(ref)
        future: asyncio.Future[AttachStream | None] = asyncio.get_running_loop().create_future()
        status = record["State"]["Status"]
        if status in ("running", "paused"):
            future.set_result(await self.monitor.attach(self.paths(record["Id"])["bundle"]))
        elif status in ("created", "exited", "restarting"):
            # As dockerd's stream config outlives runs: the client (`docker start -a`)
            # attaches first and gets the output of the next start.
            self._attach_waiters[record["Id"]].append(future)
        else:
            future.set_result(None)
        return Attachment(future)

    def resize(self, ref: str, height: int, width: int) -> None:
        record = self.get(ref)
        if height <= 0 or width <= 0:
            raise InvalidParameter("invalid terminal size: height and width must be positive")
        self._pending_size[record["Id"]] = (height, width)
        if record["State"]["Running"] and record["Config"].get("Tty"):
            self.monitor.resize(self.paths(record["Id"])["bundle"], height, width)

    def is_running(self, ref: str) -> bool:
        record = self._records.get(ref)
        return bool(record and record["State"]["Running"])

    async def top(self, ref: str, ps_args: str = "-ef") -> dict[str, Any]:
        record = self.get(ref)
        if not record["State"]["Running"]:
            raise Conflict(f"Container {record['Id']} is not running")
        pids = set(await self.runtime.ps(record["Id"]))
        proc = await asyncio.create_subprocess_exec(
            "ps", *ps_args.split(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise InvalidParameter(f"Error running ps: {err.decode().strip()}")
        lines = out.decode().splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidParameter("Couldn't find PID field in ps output")
        pid_col = titles.index("PID")
        processes = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
                processes.append(fields)
        return {"Titles": titles, "Processes": processes}

    def list(self, *, all: bool = False, filters: dict[str, list[str]] | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        filters = filters or {}
        views.check_filters(filters)
        ancestors = None
        if "ancestor" in filters:
            ancestors = set()
            for ref in filters["ancestor"]:
                try:
                    ancestors.add(self._images.resolve(ref))
                except MinkeError:
                    continue
        before = since = None
        if filters.get("before"):
            before = views.parse_time(self.get(filters["before"][0])["Created"])
        if filters.get("since"):
            since = views.parse_time(self.get(filters["since"][0])["Created"])
        records = self.all()
        if not all and "status" not in filters and "exited" not in filters:
            records = [r for r in records if r["State"]["Running"] or r["State"]["Restarting"]]
        out = [
            views.summary(r, views.shown_image(r, self._images.resolve)) for r in records
            if views.matches(r, filters, ancestors=ancestors, created_before=before,
                             created_after=since)
        ]
        if limit is not None and limit > 0:
            out = out[:limit]
        return out

    def inspect(self, ref: str) -> Record:
        return self.get(ref)

    async def close(self) -> None:
        """Stop watching; containers and their monitors keep running (live restore)."""
        for task in self._watchers.values():
            task.cancel()
        self._watchers.clear()
