"""Network namespaces as bind-mounted files, and running code inside one.

Owns the kernel side of a container's network namespace: making one (``unshare`` in a
throw-away thread, then a bind mount of ``/proc/thread-self/ns/net`` onto a file under the
daemon's exec-root, as ``ip netns add`` does), removing it, and running a function in it.
A bind-mounted namespace outlives the daemon, which is what live restore needs: published
ports and connectivity keep working while minked is down. Knows nothing of interfaces.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from minke.engine import mounts
from minke.engine.mounts import MNT_DETACH, MS_BIND, MS_REC, MS_SHARED
from minke.engine.volumes.hostmounts import is_mount_point
from minke.errors import InternalError

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise InternalError(f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, flags: int) -> None:
    try:
        mounts.mount(source, target, None, flags)
    except OSError as exc:
        raise InternalError(f"mount {source} on {target}: {exc.strerror}") from None


def ensure_dir(directory: Path) -> None:
    """Make ``directory`` a shared mount of itself (once), as ``ip netns`` does with
    /run/netns: the namespace files bind-mounted in it are then copied into every container's
    mount namespace as slaves, so that unmounting one here unmounts those copies too and
    the namespace is freed instead of pinned by other containers."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o711)
    if not is_mount_point(directory):
        _mount(str(directory), str(directory), MS_BIND | MS_REC)
    _mount("none", str(directory), MS_SHARED | MS_REC)


def _in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread and return its result. Namespace changes are per thread,
    so a thread that ``setns``es or ``unshare``s never leaks them into the event loop's."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="netns")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def _loopback_up() -> None:
    """``ip link set lo up`` in the calling thread's namespace, by ioctl: runc brings
    loopback up only in namespaces it makes itself, and pyroute2 costs more to load."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def create(path: Path) -> None:
    """A new network namespace with only ``lo`` (up), bind-mounted at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o444, exist_ok=True)

    def make() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                _loopback_up()
                _mount("/proc/thread-self/ns/net", str(path), MS_BIND)
            finally:
                # The thread ends next, but leave it where it started all the same.
                _check(_libc.setns(own, CLONE_NEWNET), "setns back")
        finally:
            os.close(own)

    try:
        _in_thread(make)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def rebind(source: Path, target: Path) -> None:
    """Move the namespace bind-mounted at ``source`` to ``target`` (a new file): a bind
    mount of it there, then ``source`` unmounted and deleted. Two system calls, where
    ``create`` costs the kernel a new namespace."""
    target.touch(mode=0o444, exist_ok=True)
    try:
        _mount(str(source), str(target), MS_BIND)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    remove(source)


def remove(path: Path) -> None:
    """Unmount and delete a namespace file; the namespace goes with its last user."""
    try:
        mounts.umount(path, MNT_DETACH)
    except OSError as exc:
        raise InternalError(f"umount {path}: {exc.strerror}") from None
    path.unlink(missing_ok=True)


def exists(path: Path) -> bool:
    return path.exists() and is_mount_point(path)


def run_in(path: Path | str, fn: Callable[[], T]) -> T:
    """Call ``fn`` in a thread that has entered the network namespace at ``path`` (a file
    under exec-root or ``/proc/<pid>/ns/net``). Sockets ``fn`` creates, netlink ones
    included, belong to that namespace for their whole life."""

    def enter_and_call() -> T:
        target = os.open(str(path), os.O_RDONLY)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _check(_libc.setns(target, CLONE_NEWNET), f"setns {path}")
            try:
                return fn()
            finally:
                _check(_libc.setns(own, CLONE_NEWNET), "setns back")
        finally:
            os.close(target)
            os.close(own)

    return _in_thread(enter_and_call)


def interface_counters(pid: int) -> dict[str, dict[str, int]]:
    """Docker's ``networks`` of a stats sample: per interface of the namespace of process
    ``pid`` (a container's init), loopback left out, from its /proc/<pid>/net/dev."""
    keys = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
    tx_keys = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
    out: dict[str, dict[str, int]] = {}
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, data = line.partition(":")
        name = name.strip()
        if name == "lo":
            continue
        f = [int(v) for v in data.split()]
        out[name] = {**dict(zip(keys, f[0:4], strict=True)),
                     **dict(zip(tx_keys, f[8:12], strict=True))}
    return out
