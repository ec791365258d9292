"""Which minked manages a bridge device on this host.

Two records, because a bridge outlives the daemon that uses it (live restore):

- The **mark**: the ifalias of every bridge minke creates, ``minke:<data root>`` of the daemon
  that manages it now. It lives and dies with the device, so it says "minke made this, and
  this daemon may delete it"; a bridge without it was made by someone else (an
  administrator, Docker's ``docker0``, an older minke) and minke never deletes it.
- The **claim**: ``/run/minke-bridges/<bridge>``, a file naming the data root and pid of the
  daemon using the bridge as its default one. That daemon holds an ``flock`` on it for its
  whole life, so a held lock is a live owner (the kernel drops it when the process dies:
  no stale pid to guess about), and the file's text names the last user after it is gone.
  Like the bridges, it does not survive a reboot (/run is a tmpfs).

Everything here that reads and then acts is done under ``host_lock``, the one host-wide lock
of minke's networking, so that two daemons never decide about one bridge at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from minke.errors import Conflict

# Taken while a subnet is chosen, a bridge made or claimed, by every minke on the host.
HOST_LOCK = Path("/run/minke-network.lock")
CLAIM_DIR = Path("/run/minke-bridges")
MARK_PREFIX = "minke:"
IFALIAS_MAX = 255  # the kernel's IFALIASZ - 1


@contextmanager
def host_lock() -> Iterator[None]:
    HOST_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(HOST_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def mark(data_root: Path | str) -> str:
    """The ifalias of a bridge that the daemon on ``data_root`` made and manages."""
    text = MARK_PREFIX + str(data_root)
    if len(text.encode()) > IFALIAS_MAX:
        text = MARK_PREFIX + "sha256:" + hashlib.sha256(str(data_root).encode()).hexdigest()
    return text


def marked_root(alias: str | None) -> str | None:
    """The data root a bridge's ifalias names, if minke made the bridge."""
    if alias and alias.startswith(MARK_PREFIX):
        return alias[len(MARK_PREFIX):]
    return None


@dataclass(frozen=True)
class Holder:
    """Who claimed a bridge last, and whether that daemon still lives."""

    data_root: str
    pid: int
    live: bool

    def describe(self) -> str:
        state = f"running, pid {self.pid}" if self.live else "not running"
        return f"the minked with data root {self.data_root} ({state})"


def _read(path: Path) -> tuple[str, int]:
    try:
        doc = json.loads(path.read_text() or "{}")
        return str(doc.get("data_root") or ""), int(doc.get("pid") or 0)
    except (OSError, ValueError):
        return "", 0


def _locked_by_other(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def holder(bridge: str) -> Holder | None:
    """The last daemon that claimed ``bridge``, or None if none did since boot. Under
    ``host_lock``: testing the lock takes it for an instant, which must not make a daemon
    starting at that moment think the bridge taken."""
    path = CLAIM_DIR / bridge
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        root, pid = _read(path)
        return Holder(root, pid, _locked_by_other(fd)) if root else None
    finally:
        os.close(fd)


def live_holders() -> dict[str, Holder]:
    """bridge → holder, for every bridge a running minked holds (tests, diagnostics);
    under ``host_lock``, as ``holder``."""
    out = {}
    with contextlib.suppress(OSError):
        for path in CLAIM_DIR.iterdir():
            found = holder(path.name)
            if found is not None and found.live:
                out[path.name] = found
    return out


class BridgeClaim:
    """One daemon's claim on its default bridge; ``acquire`` and ``release`` under
    ``host_lock``."""

    def __init__(self, bridge: str, data_root: Path) -> None:
        self.bridge = bridge
        self.data_root = str(data_root)
        self.previous: Holder | None = None  # who had it before us (set by acquire)
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return CLAIM_DIR / self.bridge

    def acquire(self) -> None:
        """Hold the bridge, or raise Conflict naming the live daemon that does."""
        if self._fd is not None:
            return
        CLAIM_DIR.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        root, pid = _read(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Conflict(
                f"bridge {self.bridge} is the default bridge of another daemon: "
                f"{Holder(root, pid, True).describe()}; give this daemon a bridge of its own "
                f"with -b/--bridge") from None
        self.previous = Holder(root, pid, False) if root else None
        self._fd = fd

    def record(self) -> None:
        """Name us as the bridge's user, once we use it (``clean_host`` only looks)."""
        assert self._fd is not None, "record() without acquire()"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps({"data_root": self.data_root, "pid": os.getpid()})
                  .encode(), 0)

    def release(self, *, forget: bool = False) -> None:
        """Let go of the bridge. ``forget`` also removes the record of having used it (the
        host side is gone); otherwise it stays, naming us as the last user (live restore)."""
        if self._fd is None:
            return
        if forget:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # drops the flock
        self._fd = None
