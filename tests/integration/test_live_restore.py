"""Killing minked leaves containers running; a new minked on the same roots finds them."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import docker
import pytest
from tests.conftest import cleanup_root, remove_all_containers, start_daemon, stop_daemon

pytestmark = pytest.mark.integration


def test_sigkill_daemon_then_restart(busybox_tar: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-lr-", dir="/tmp"))
    daemon = start_daemon(root)
    try:
        api = docker.APIClient(base_url=daemon.host, version="1.41")
        api.import_image_from_data(busybox_tar.read_bytes(), repository="bb", tag="1")
        ticker = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
        runner = api.create_container("bb:1", ["sh", "-c", ticker], name="runner")
        quitter = api.create_container("bb:1", ["sh", "-c", "sleep 1; exit 42"], name="quitter")
        api.start(runner)
        api.start(quitter)
        pid = api.inspect_container("runner")["State"]["Pid"]
        api.close()
        os.killpg(daemon.process.pid, signal.SIGKILL)  # the daemon alone: it is its own group
        daemon.process.wait()
        time.sleep(1.5)  # quitter exits while no daemon watches
        os.kill(pid, 0)  # still alive
        daemon = start_daemon(root)
        api = docker.APIClient(base_url=daemon.host, version="1.41")
        state = api.inspect_container("runner")["State"]
        assert state["Running"] and state["Pid"] == pid
        q = api.inspect_container("quitter")["State"]
        assert q["Status"] == "exited" and q["ExitCode"] == 42
        assert b"tick" in api.logs("runner")
        exec_id = api.exec_create("runner", ["echo", "exec-after-restart"])
        assert api.exec_start(exec_id) == b"exec-after-restart\n"
        sock = api.attach_socket("runner", params={"stdout": 1, "stream": 1})
        sock._sock.settimeout(5)
        assert b"tick" in sock._sock.recv(4096)
        sock._sock.close()
        api.stop("runner", timeout=1)
        assert api.wait("runner")["StatusCode"] in (137, 143)
        api.close()
    finally:
        if daemon.process.poll() is None:
            remove_all_containers(daemon)
        stop_daemon(daemon)
        cleanup_root(root)
