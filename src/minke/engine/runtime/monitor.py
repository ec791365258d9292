"""``Conmon``: the per-container monitor, built on Debian's conmon (CONMON.md is the recipe).

Owns everything between the engine and a container's conmon: the command line and the
socket handshake of create and exec, the files conmon leaves (conmon.pid, exit and oom files),
the attach socket and the ctl FIFO. The OCI runtime is used only through ``OCIRuntime``
(its binary and global flags go to conmon); ``runc start``/``kill``/``delete`` are the
caller's, and so are the bundle's config.json and the choice of log path.

Files, for container id C with bundle B (conmon's cwd) and exec root X::

    B/conmon.pid      pid of the long-lived conmon      B/pidfile   container init pid (runc)
    B/attach          attach socket (SOCK_SEQPACKET)    B/ctl       resize / reopen-log FIFO
    X/exits/C         exit code, written on exit        X/persist/C/oom  present after an OOM kill
    B/exec/E/...      the same layout per exec session E, exit file in B/exec/E/exit/C
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import termios
import time
from pathlib import Path
from typing import Any

from minke.engine.fsutil import discard
from minke.engine.runtime.runtime import EXIT_UNKNOWN, ExitStatus, OCIRuntime, runtime_message
from minke.errors import Conflict, InternalError

CREATE_TIMEOUT = 120.0  # s; runc create of a big rootfs on a slow disk (podman allows 240 s)
ATTACH_READ_SIZE = 64 * 1024  # > conmon's 8193-byte packets: a SEQPACKET read never truncates
STDIN_CHUNK = 32 * 1024  # conmon reads the attach socket in 32 KiB (CONN_SOCK_BUF_SIZE)
FAILED_CREATE_GRACE = 5.0  # s for conmon to exit by itself after reporting a failed create
CTL_RETRY = 0.5  # s to wait for conmon to open its ctl FIFO (it does so before runc create)
CTL_RETRY_STEP = 0.01  # s
CTL_DRAIN_STEP = 0.0005  # s between checks that conmon has read a resize message
SUN_PATH_ROOM = 80  # longest TMPDIR for which $TMPDIR/conmon-term.XXXXXX fits in sun_path

# conmon numbers its attach streams 1 stdin, 2 stdout, 3 stderr; Docker uses 0/1/2
_DOCKER_STREAM = {2: 1, 3: 2}
# inherited from an init system, they would make conmon or runc talk to it
_DROPPED_ENV = ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


class AttachStream:
    """A client connection to a conmon attach socket: container stdout/stderr in, stdin out.

    Contract: the caller must keep calling ``read`` until it returns None (or ``close``).
    conmon writes to attach clients with blocking sends, so a client that stops reading stalls
    conmon, and with it the container's output and log (CONMON.md pitfall 4). There is no
    replay: only output produced after the connection is seen.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock

    async def read(self) -> tuple[int, bytes] | None:
        """The next chunk as (1, data) for stdout or (2, data) for stderr; None at EOF.

        EOF means the container exited (conmon closes all clients) or the stream was closed.
        With a TTY everything arrives as stdout.
        """
        loop = asyncio.get_running_loop()
        while True:
            try:
                packet = await loop.sock_recv(self._sock, ATTACH_READ_SIZE)
            except OSError:
                return None  # reset (a failed exec resets the socket) or closed by us
            if not packet:
                return None
            stream = _DOCKER_STREAM.get(packet[0])
            if stream is not None and len(packet) > 1:
                return stream, packet[1:]

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the container's stdin. Raises Conflict once the stream is gone."""
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        try:
            # one SEQPACKET message per chunk: conmon's single read() takes at most this much
            for start in range(0, len(view), STDIN_CHUNK):
                await loop.sock_sendall(self._sock, view[start : start + STDIN_CHUNK])
        except OSError as exc:
            raise Conflict(f"container stdin is closed: {exc.strerror or exc}") from exc

    def close_stdin(self) -> None:
        """Half-close: conmon closes the container's stdin (unless it was started with
        ``--leave-stdin-open``); output keeps coming."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Disconnect; the container goes on. A second call does nothing."""
        self._sock.close()


class ExecSession:
    """A process started in a running container by its own conmon (``Conmon.exec``)."""

    def __init__(
        self,
        *,
        monitor: Conmon,
        container_id: str,
        exec_dir: Path,
        pid: int,
        stream: AttachStream | None,
        sync: socket.socket,
    ) -> None:
        self.pid = pid  # host PID of the exec'd process
        self.stream = stream  # None for a detached exec
        self.exec_dir = exec_dir
        self._monitor = monitor
        self._container_id = container_id
        self._sync: socket.socket | None = sync
        self._code: int | None = None

    async def wait(self) -> int:
        """Its exit code (128+signal when killed; -1 if its conmon died without telling)."""
        if self._code is not None:
            return self._code
        sync = self._sync
        message = await _recv_json(sync) if sync is not None else None
        code = _int_data(message)
        if code is None:
            status = _read_exit_file(self.exec_dir / "exit" / self._container_id, None)
            code = status.code if status is not None else EXIT_UNKNOWN
        self._code = code
        self.close()
        return code

    def resize(self, height: int, width: int) -> None:
        """Set the exec TTY's size (no effect without a TTY)."""
        self._monitor._write_resize(self.exec_dir, height, width)

    def close(self) -> None:
        """Stop listening for the exit code; the process goes on. ``wait`` then reads the file."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None


class Conmon:
    """Spawns and tracks one conmon per container (and per exec session).

    Lifecycle: ``create`` (container 'created', init PID known) → optionally ``attach`` and
    ``resize`` → caller's ``runtime.start`` → ``wait_exit`` / ``exit_status`` → caller's
    ``runtime.delete`` → ``clear_exit`` before a new ``create`` of the same id. conmon outlives
    the engine, so every query works from files and /proc, for conmons an earlier engine
    process started too.
    """

    def __init__(
        self,
        *,
        runtime: OCIRuntime,
        exec_root: Path,
        binary: str = "conmon",
        log_level: str = "info",
    ) -> None:
        self.runtime = runtime
        self.exec_root = Path(exec_root)
        self.binary = shutil.which(binary) or binary
        self.log_level = log_level
        self.exits_dir = self.exec_root / "exits"
        self.persist_root = self.exec_root / "persist"
        self._trash = self.exec_root / "trash"  # for fsutil.discard; emptied of a crash's
        shutil.rmtree(self._trash, ignore_errors=True)

    # -- command lines -------------------------------------------------------------------------

    def _common_argv(self, container_id: str, cuuid: str, bundle: Path, name: str) -> list[str]:
        argv = [
            self.binary,
            "--api-version", "1",  # "1" is a stray positional conmon ignores, as podman passes it
            "-c", container_id,
            "-u", cuuid,
            "-r", self.runtime.binary,
            "-b", str(bundle),
            "-n", name,
            "--full-attach",
            "--log-level", self.log_level,
        ]
        for arg in self.runtime.global_args():
            argv += ["--runtime-arg", arg]
        return argv

    def create_argv(
        self,
        *,
        container_id: str,
        name: str,
        bundle: Path,
        tty: bool,
        stdin: bool,
        stdin_once: bool,
        log_path: Path | None,
        log_size_max: int | None = None,
    ) -> list[str]:
        """The conmon command line ``create`` runs; no ``log_path``: nothing is logged."""
        argv = self._common_argv(container_id, container_id, bundle, name)
        argv += [
            "-p", str(bundle / "pidfile"),
            "--exit-dir", str(self.exits_dir),
            "--persist-dir", str(self.persist_root / container_id),
            "--conmon-pidfile", str(bundle / "conmon.pid"),
            "-l", f"k8s-file:{log_path}" if log_path is not None else "none",
        ]
        if log_size_max is not None and log_size_max > 0:
            argv += ["--log-size-max", str(log_size_max)]
        argv += _stdio_flags(tty, stdin)
        if stdin and not stdin_once:
            argv.append("--leave-stdin-open")
        return argv

    def exec_argv(
        self, *, container_id: str, exec_id: str, exec_dir: Path, tty: bool, stdin: bool
    ) -> list[str]:
        """The conmon command line ``exec`` runs."""
        argv = self._common_argv(container_id, exec_id, exec_dir, exec_id)
        argv += [
            "-p", str(exec_dir / "exec_pid"),
            "--exit-dir", str(exec_dir / "exit"),
            "--persist-dir", str(exec_dir / "persist" / container_id),
            "--conmon-pidfile", str(exec_dir / "conmon.pid"),
            "-l", "none",
            *_stdio_flags(tty, stdin),
            "-e",
            "--exec-attach",
            "--exec-process-spec", str(exec_dir / "exec-process.json"),
        ]
        return argv

    # -- create ------------------------------------------------------------------------------------

    async def create(
        self,
        *,
        container_id: str,
        name: str,
        bundle: Path,
        tty: bool,
        stdin: bool,
        stdin_once: bool,
        log_path: Path | None,
        log_size_max: int | None = None,
    ) -> int:
        """Have conmon run ``runtime create``; return the container's init PID.

        The container is left 'created': attach and resize now, then ``runtime.start``.
        ``bundle/config.json`` must exist with ``process.terminal == tty``. Raises
        InternalError carrying the runtime's message (e.g. ``exec: "x": executable file not
        found in $PATH``) when create fails; the runtime may then still hold state for the
        id, which ``runtime.delete(force=True)`` removes.
        """
        bundle = Path(bundle)
        self.clear_exit(container_id)
        for stale in ("conmon.pid", "pidfile", "attach", "ctl", "winsz", "oom"):
            with contextlib.suppress(FileNotFoundError):
                (bundle / stale).unlink()
        self.exits_dir.mkdir(parents=True, exist_ok=True)
        (self.persist_root / container_id).mkdir(parents=True, exist_ok=True)
        argv = self.create_argv(
            container_id=container_id,
            name=name,
            bundle=bundle,
            tty=tty,
            stdin=stdin,
            stdin_once=stdin_once,
            log_path=log_path,
            log_size_max=log_size_max,
        )
        with _Pipes("sync", "start") as pipes:
            proc = await self._spawn(argv, bundle, pipes, bundle / "conmon.out")
            try:
                async with asyncio.timeout(CREATE_TIMEOUT):
                    message = await self._create_handshake(proc, pipes, bundle)
            except BaseException as exc:
                self._kill_spawned(proc, container_id, bundle)
                if isinstance(exc, TimeoutError):
                    raise InternalError(
                        f"conmon: container {container_id} not created in {CREATE_TIMEOUT:.0f}s"
                    ) from exc
                raise
        pid = _int_data(message)
        if pid is None or pid <= 0:
            # conmon reports the failure first and exits after its clean-up: wait for that,
            # so that no monitor of this create outlives the error (the id may be reused)
            try:
                async with asyncio.timeout(FAILED_CREATE_GRACE):
                    await self.wait_exit(container_id, bundle)
            except TimeoutError:
                self._kill_spawned(proc, container_id, bundle)
            raise InternalError(_failure_text(message, bundle / "conmon.out"))
        return pid

    async def _create_handshake(
        self, proc: asyncio.subprocess.Process, pipes: _Pipes, bundle: Path
    ) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        # conmon waits for this byte so that it could first be moved to its own cgroup
        await loop.sock_sendall(pipes.parent("start"), b"\0")
        await self._reap_first(proc, bundle)
        return await _recv_json(pipes.parent("sync"))

    # -- exec ----------------------------------------------------------------------------------

    async def exec(
        self,
        *,
        container_id: str,
        exec_id: str,
        bundle: Path,
        process: dict[str, Any],
        tty: bool,
        stdin: bool,
        detach: bool,
    ) -> ExecSession:
        """Run ``process`` (an OCI process object) in the running container ``container_id``.

        Returns once the process runs, with its host PID and, unless ``detach``, a connected
        stream (connected before the process starts, so no output is lost). Raises
        InternalError with the runtime's message when the exec fails.
        """
        exec_dir = Path(bundle) / "exec" / exec_id
        # conmon does not make its exit and persist dirs; without them it fails at the exit
        (exec_dir / "exit").mkdir(parents=True, exist_ok=True)
        (exec_dir / "persist" / container_id).mkdir(parents=True, exist_ok=True)
        spec = dict(process, terminal=tty)
        (exec_dir / "exec-process.json").write_text(json.dumps(spec))
        argv = self.exec_argv(
            container_id=container_id, exec_id=exec_id, exec_dir=exec_dir, tty=tty, stdin=stdin
        )
        pipes = _Pipes("sync", "start", "attach")
        stream: AttachStream | None = None
        try:
            proc = await self._spawn(argv, exec_dir, pipes, exec_dir / "conmon.out")
            try:
                async with asyncio.timeout(CREATE_TIMEOUT):
                    message, stream = await self._exec_handshake(proc, pipes, exec_dir, detach)
            except BaseException as exc:
                self._kill_spawned(proc, container_id, exec_dir)
                if isinstance(exc, TimeoutError):
                    raise InternalError(f"conmon: exec {exec_id} did not start") from exc
                raise
            pid = _int_data(message)
            if pid is None or pid <= 0:
                raise InternalError(_failure_text(message, exec_dir / "conmon.out"))
            sync = pipes.take("sync")
        except BaseException:
            if stream is not None:
                stream.close()
            raise
        finally:
            pipes.close()
        return ExecSession(
            monitor=self,
            container_id=container_id,
            exec_dir=exec_dir,
            pid=pid,
            stream=stream,
            sync=sync,
        )

    async def _exec_handshake(
        self, proc: asyncio.subprocess.Process, pipes: _Pipes, exec_dir: Path, detach: bool
    ) -> tuple[dict[str, Any] | None, AttachStream | None]:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(pipes.parent("start"), b"\0")
        await self._reap_first(proc, exec_dir)
        ready = await _recv_json(pipes.parent("attach"))
        if _int_data(ready) != 0:
            # conmon could not set up the socket; its sync pipe says why
            return await _recv_json(pipes.parent("sync")), None
        stream = None if detach else await self.attach(exec_dir)
        # the second byte lets conmon run `runtime exec`, now that the client is connected
        await loop.sock_sendall(pipes.parent("start"), b"\0")
        return await _recv_json(pipes.parent("sync")), stream

    # -- process plumbing ----------------------------------------------------------------------

    async def _spawn(
        self, argv: list[str], cwd: Path, pipes: _Pipes, out_path: Path
    ) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(pipes.child_env())
        # a -t conmon binds $TMPDIR/conmon-term.XXXXXX and runc connects to it by path,
        # so TMPDIR must be short enough for sun_path (108 bytes)
        tmpdir = cwd if len(str(cwd)) <= SUN_PATH_ROOM else self.exec_root / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmpdir)
        try:
            with open(out_path, "wb") as out:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=cwd,  # conmon writes its "oom" file in its cwd (CONMON.md pitfall 9)
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    pass_fds=pipes.child_fds(),
                    process_group=0,
                )
        except OSError as exc:
            raise InternalError(f"cannot run conmon {self.binary}: {exc}") from exc
        finally:
            pipes.close_children()
        return proc

    async def _reap_first(self, proc: asyncio.subprocess.Process, cwd: Path) -> None:
        # conmon's first process exits once the daemonized one has written conmon.pid
        if await proc.wait() != 0:
            raise InternalError(_failure_text(None, cwd / "conmon.out"))

    def _kill_spawned(self, proc: asyncio.subprocess.Process, container_id: str, cwd: Path) -> None:
        # only processes this call started: the first conmon, and the daemon it forked
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if self.is_running(container_id, cwd):
            pid = self.monitor_pid(cwd)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    # -- queries -------------------------------------------------------------------------------

    def monitor_pid(self, bundle: Path) -> int | None:
        """The PID conmon wrote to ``bundle/conmon.pid``; None if there is none."""
        try:
            return int((Path(bundle) / "conmon.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self, container_id: str, bundle: Path) -> bool:
        """Whether the bundle's conmon is alive and really monitors ``container_id``.

        The /proc cmdline check guards against the PID having been reused since.
        """
        pid = self.monitor_pid(bundle)
        return pid is not None and _is_conmon_of(pid, container_id, self.binary)

    async def wait_exit(self, container_id: str, bundle: Path) -> ExitStatus:
        """Wait until the container has exited and return how.

        Waits on a pidfd of its conmon, which needs no parent-child relation: it works for a
        conmon an earlier engine process started. If conmon is gone without an exit file
        (killed), the code is -1 and the time is now.
        """
        pid = self.monitor_pid(bundle)
        if pid is not None and _is_conmon_of(pid, container_id, self.binary):
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                pidfd = None
            if pidfd is not None:
                try:
                    # re-check through the pidfd's lifetime: the pid may have been reused
                    # between the cmdline check and pidfd_open
                    if _is_conmon_of(pid, container_id, self.binary):
                        await _readable(pidfd)
                finally:
                    os.close(pidfd)
        status = self.exit_status(container_id)
        return status if status is not None else ExitStatus(EXIT_UNKNOWN, False, time.time())

    def exit_status(self, container_id: str) -> ExitStatus | None:
        """The recorded exit, without waiting; None while conmon has written none."""
        return _read_exit_file(
            self.exits_dir / container_id, self.persist_root / container_id / "oom"
        )

    def clear_exit(self, container_id: str) -> None:
        """Forget a recorded exit, so that the next run of the id starts clean."""
        with contextlib.suppress(FileNotFoundError):
            (self.exits_dir / container_id).unlink()
        # out of the way at once, deleted in the background: this is on the removal's path
        discard(self.persist_root / container_id, self._trash)

    # -- attach and resize ---------------------------------------------------------------------

    async def attach(self, bundle: Path) -> AttachStream:
        """Connect to the container's attach socket. Raises Conflict when conmon is gone."""
        path = Path(bundle) / "attach"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            # the bundle path may exceed sun_path's 108 bytes; /proc/self/fd/N never does
            dirfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{dirfd}")
            finally:
                os.close(dirfd)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise Conflict(f"cannot attach: container monitor is not running ({path})") from exc
        except OSError as exc:
            sock.close()
            raise InternalError(f"cannot attach to {path}: {exc}") from exc
        return AttachStream(sock)

    def resize(self, bundle: Path, height: int, width: int) -> None:
        """Set the container TTY's size (rows, columns); works before ``start``.

        Raises Conflict when no conmon reads the ctl FIFO (the container has exited).
        """
        self._write_resize(Path(bundle), height, width)

    def _write_resize(self, directory: Path, height: int, width: int) -> None:
        path = directory / "ctl"
        deadline = time.monotonic() + CTL_RETRY
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                break
            except OSError as exc:
                # ENOENT: conmon has not made it yet; ENXIO: nobody has it open for reading
                if exc.errno not in (errno.ENOENT, errno.ENXIO):
                    raise InternalError(f"cannot open {path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise Conflict(
                        f"cannot resize: container monitor is not running ({path})"
                    ) from exc
                time.sleep(CTL_RETRY_STEP)
        try:
            os.write(fd, f"1 {int(height)} {int(width)}\n".encode())
            # conmon sets the size as it reads the message: wait for that (briefly), or a
            # process started right after (as ``start`` does at once) could see the old size
            while _unread(fd) and time.monotonic() < deadline + CTL_RETRY:
                time.sleep(CTL_DRAIN_STEP)
        except OSError as exc:
            raise InternalError(f"cannot write {path}: {exc}") from exc
        finally:
            os.close(fd)


class _Pipes:
    """Named SOCK_SEQPACKET pairs handed to conmon as _OCI_<NAME>PIPE fds."""

    def __init__(self, *names: str) -> None:
        self._parent: dict[str, socket.socket] = {}
        self._child: dict[str, socket.socket] = {}
        for name in names:
            parent, child = socket.socketpair(
                socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC
            )
            parent.setblocking(False)
            self._parent[name], self._child[name] = parent, child

    def __enter__(self) -> _Pipes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def parent(self, name: str) -> socket.socket:
        return self._parent[name]

    def take(self, name: str) -> socket.socket:
        """Keep ``name``'s parent end open beyond ``close``; the caller owns it now."""
        return self._parent.pop(name)

    def child_env(self) -> dict[str, str]:
        # pass_fds keeps fd numbers as they are in the parent
        return {f"_OCI_{n.upper()}PIPE": str(s.fileno()) for n, s in self._child.items()}

    def child_fds(self) -> list[int]:
        return [s.fileno() for s in self._child.values()]

    def close_children(self) -> None:
        # our copies must go, or a conmon that dies would never show as EOF
        for sock in self._child.values():
            sock.close()

    def close(self) -> None:
        self.close_children()
        for sock in self._parent.values():
            sock.close()


def _unread(fd: int) -> int:
    """Bytes written to the FIFO ``fd`` and not read yet."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def _stdio_flags(tty: bool, stdin: bool) -> list[str]:
    if tty:
        return ["-t"]  # the pty master carries stdin too; -i is only for the pipe case
    return ["-i"] if stdin else []


async def _recv_json(sock: socket.socket) -> dict[str, Any] | None:
    """One JSON message from a conmon pipe; None when conmon closed it (or died)."""
    try:
        data = await asyncio.get_running_loop().sock_recv(sock, 64 * 1024)
    except OSError:
        return None
    if not data:
        return None
    try:
        message = json.loads(data)
    except ValueError as exc:
        raise InternalError(f"conmon: unreadable message {data[:200]!r}") from exc
    return message if isinstance(message, dict) else None


def _int_data(message: dict[str, Any] | None) -> int | None:
    if message is None or not isinstance(message.get("data"), int):
        return None
    return int(message["data"])


def _failure_text(message: dict[str, Any] | None, out_path: Path) -> str:
    # prefer the runtime's words (conmon forwards runc's stderr); else conmon's own output
    text = runtime_message(str(message.get("message", ""))) if message else ""
    if not text:
        try:
            text = out_path.read_text(errors="replace").strip()
        except FileNotFoundError:
            text = ""
    return text or "conmon exited without reporting a PID"


def _read_exit_file(path: Path, oom_path: Path | None) -> ExitStatus | None:
    try:
        text = path.read_text().strip()
        finished_at = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        code = int(text)
    except ValueError:
        code = EXIT_UNKNOWN
    oom = oom_path is not None and oom_path.exists()
    return ExitStatus(code=code, oom_killed=oom, finished_at=finished_at)


def _is_conmon_of(pid: int, container_id: str, binary: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if Path(os.fsdecode(argv[0])).name not in ("conmon", Path(binary).name):
        return False
    target = os.fsencode(container_id)
    return any(a in (b"-c", b"--cid") and b == target for a, b in zip(argv, argv[1:], strict=False))


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_ready() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
