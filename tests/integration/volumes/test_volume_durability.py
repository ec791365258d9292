"""A volume's data survives container removal, a daemon restart and SIGKILL of the daemon
while a container writes to it; and no volume is deleted while a container refers to it."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import (
    cleanup_root,
    remove_all_containers,
    start_daemon,
    stop_daemon,
    unique,
)
from tests.support.busybox import write_rootfs_tar
from tests.support.cli import docker_text as cli

pytestmark = [pytest.mark.integration, pytest.mark.compat]

WRITER = "i=0; while true; do echo $i >> /data/log; i=$((i+1)); usleep 5000; done"


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mkvd-", dir="/tmp"))
    yield path
    cleanup_root(path)


def lines_of(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for_growth(path: Path, beyond: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while (count := lines_of(path)) <= beyond:
        assert time.monotonic() < deadline, f"{path} stopped growing at {count} lines"
        time.sleep(0.05)
    return count


def test_data_survives_sigkill_restart_and_removal(root: Path) -> None:
    daemon = start_daemon(root)
    vol, name = unique("vol"), unique()
    try:
        cli(daemon, "import", "--change", 'CMD ["sh"]', str(write_rootfs_tar(root / "bb.tar")),
            "busybox:latest")
        cli(daemon, "run", "-d", "--name", name, "-v", f"{vol}:/data", "busybox:latest",
            "sh", "-c", WRITER)
        log = Path(cli(daemon, "volume", "inspect", "-f", "{{.Mountpoint}}", vol)
                   .stdout.strip()) / "log"
        seen = wait_for_growth(log, 20)
        daemon.process.kill()  # SIGKILL while the container writes
        daemon.process.wait()
        seen = wait_for_growth(log, seen)  # the container, and its writes, go on

        daemon = start_daemon(root)
        assert vol in cli(daemon, "volume", "ls", "-q").stdout.split()
        proc = cli(daemon, "volume", "rm", vol, check=False)
        assert proc.returncode == 1 and "volume is in use" in proc.stderr
        cli(daemon, "stop", "-t", "1", name)
        proc = cli(daemon, "volume", "rm", vol, check=False)  # stopped still counts
        assert proc.returncode == 1 and "volume is in use" in proc.stderr
        cli(daemon, "rm", "-v", name)  # -v keeps named volumes
        final = lines_of(log)
        assert final > seen

        stop_daemon(daemon)
        daemon = start_daemon(root)
        out = cli(daemon, "run", "--rm", "-v", f"{vol}:/data", "busybox:latest",
                  "sh", "-c", "wc -l < /data/log; tail -1 /data/log").stdout.split()
        assert int(out[0]) == final and int(out[1]) == final - 1  # nothing lost or torn
        cli(daemon, "volume", "rm", vol)
        assert not log.parent.exists()
    finally:
        if daemon.process.poll() is None:
            remove_all_containers(daemon)
        stop_daemon(daemon)
