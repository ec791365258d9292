"""Shared fixtures: a real minked on private roots, and a busybox image imported into it.

The daemon is session-scoped (starting one costs ~0.5 s); tests make containers with unique
names and remove them. At the end every container is removed, the daemon stopped, and its
mounts and directories cleaned up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.busybox import write_rootfs_tar

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (runc, overlayfs, namespaces)")
    for item in items:
        if "integration" in item.keywords or "compat" in item.keywords:
            item.add_marker(skip)


@dataclass
class Daemon:
    root: Path
    socket: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "MINKE_HOST": self.host}

    def stacks(self, timeout: float = 5.0) -> str:
        """The daemon's threads and asyncio tasks now (its SIGUSR1 dump), for the message
        of a test that found it hanging."""
        import signal

        before = set(self.exec_root.glob("stacks-*.log"))
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = set(self.exec_root.glob("stacks-*.log")) - before
            if new:
                time.sleep(0.2)  # written in one call; let it finish
                return max(new).read_text()
            time.sleep(0.1)
        return "(no stack dump: the event loop did not answer SIGUSR1)"


def bridge_name(root: Path) -> str:
    """The default bridge of the daemon on ``root``: unique per daemon (it also names the
    daemon's nftables table), at most 15 characters."""
    import hashlib

    return "mkb" + hashlib.sha256(str(root).encode()).hexdigest()[:10]


# The data roots of every daemon this session started: what they leave on the host is the
# session's (see host_network_unchanged).
SESSION_ROOTS: set[str] = set()


def start_daemon(root: Path, *extra: str) -> Daemon:
    SESSION_ROOTS.add(str(root / "data"))
    socket = root / "minke.sock"
    log = root / "minked.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "minke.daemon.main", "--data-root", str(root / "data"),
         "--exec-root", str(root / "exec"), "-H", f"unix://{socket}",
         "--pidfile", str(root / "minked.pid"), "--cgroup-parent", cgroup_parent(root),
         "--bridge", bridge_name(root), *extra],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    daemon = Daemon(root, socket, process, log)
    wait_for_socket(daemon)
    return daemon


def wait_for_socket(daemon: Daemon, timeout: float = 20.0) -> None:
    import socket as sock

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError(f"minked exited: {daemon.log.read_text()[-2000:]}")
        if daemon.socket.exists():
            s = sock.socket(sock.AF_UNIX)
            try:
                s.connect(str(daemon.socket))
                s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                if b"OK" in s.recv(4096):
                    return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    raise RuntimeError(f"minked did not answer: {daemon.log.read_text()[-2000:]}")


def stop_daemon(daemon: Daemon) -> None:
    if daemon.process.poll() is None:
        daemon.process.terminate()
        try:
            daemon.process.wait(10)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()


def remove_all_containers(daemon: Daemon) -> None:
    import docker

    client = docker.APIClient(base_url=daemon.host, version="auto", timeout=60)
    try:
        for c in client.containers(all=True):
            try:
                client.remove_container(c["Id"], force=True)
            except docker.errors.APIError:
                pass
    finally:
        client.close()


def remove_networks(root: Path, bridge: str | None = None) -> None:
    """``minked --cleanup`` for the stopped daemon on ``root``: the bridges, addresses and
    firewall rules it made go (a daemon leaves them for live restore), nothing else."""
    from minke.engine.network.service import clean_host
    from minke.errors import Conflict

    try:
        clean_host(root / "data", bridge or bridge_name(root))
    except Conflict:
        pass  # another live daemon holds that bridge: nothing on it is this daemon's


def cleanup_root(root: Path, bridge: str | None = None) -> None:
    """Unmount whatever is still mounted under ``root`` (deepest first), remove the
    daemon's networks from the host (its default bridge is ``bridge``, if not the one
    ``start_daemon`` gives it), then delete it."""
    try:
        remove_networks(root, bridge)
    finally:  # a failure there is reported, and the rest is still cleaned up
        mounts = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target.startswith(str(root) + "/"):
                mounts.append(target)
        for target in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        remove_cgroup_parent(cgroup_parent(root))


def cgroup_parent(root: Path) -> str:
    """The cgroup under which a test daemon on ``root`` places its containers."""
    return f"minke-test-{root.name}"


def remove_cgroup_parent(name: str) -> None:
    """rmdir the (by now empty) parent cgroup in every hierarchy; runc removes the
    containers' own cgroups, the parent is the daemon's. A cgroup still in use stays."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        parent = hierarchy / name
        if not parent.is_dir():
            continue
        for directory in sorted((d for d in parent.rglob("*") if d.is_dir()),
                                key=lambda d: len(d.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()


@contextmanager
def private_daemon(prefix: str = "mk-", *extra: str) -> Iterator[Daemon]:
    """A minked of its own (with the flags ``extra``) on a fresh root under /tmp; afterwards
    (also after a failure) its containers are removed if it still runs, it is stopped and
    its root cleaned up."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        daemon = start_daemon(root, *extra)
    except BaseException:
        cleanup_root(root)
        raise
    try:
        yield daemon
    finally:
        if daemon.process.poll() is None:
            remove_all_containers(daemon)
        stop_daemon(daemon)
        cleanup_root(root)


@pytest.fixture(scope="session", autouse=True)
def host_network_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """The session leaves the host's interfaces, addresses, routes and nftables tables as
    it found them: set up before any daemon, checked after the last one is gone (an error
    of the last test otherwise). For sessions with kernel-touching tests, run as root."""
    touches_host = any("integration" in item.keywords or "compat" in item.keywords
                       for item in request.session.items)
    if os.geteuid() != 0 or not touches_host:
        yield
        return
    from tests.support.hostnet import difference, snapshot

    before = snapshot()
    yield
    changed = difference(before, snapshot(SESSION_ROOTS))
    if changed:
        pytest.fail("the test session left the host's network changed:\n  "
                    + "\n  ".join(changed), pytrace=False)


@pytest.fixture(scope="session")
def minke_daemon() -> Iterator[Daemon]:
    with private_daemon() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rootfs_tar(tmp_path_factory.mktemp("busybox") / "rootfs.tar")


@pytest.fixture(scope="session")
def busybox_image(minke_daemon: Daemon, busybox_tar: Path) -> str:
    """``busybox:latest`` imported into the session daemon (with CMD ["sh"], as Docker's)."""
    return import_busybox(minke_daemon, busybox_tar)


def import_busybox(daemon: Daemon, busybox_tar: Path) -> str:
    """Import ``busybox:latest`` (with CMD ["sh"], as Docker's) into ``daemon``."""
    import docker

    client = docker.APIClient(base_url=daemon.host, version="auto")
    with busybox_tar.open("rb") as f:
        client.import_image_from_data(f.read(), repository="busybox", tag="latest",
                                      changes=['CMD ["sh"]'])
    client.close()
    return "busybox:latest"


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
