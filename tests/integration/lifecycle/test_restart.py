"""Restart policies with the real docker CLI: counting, backoff, the user winning over
``always``, and containers coming back after a simulated host reboot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from tests.conftest import (
    Daemon,
    cleanup_root,
    remove_all_containers,
    start_daemon,
    stop_daemon,
    unique,
)
from tests.integration.lifecycle.lifecycle_support import DOCKER, docker, inspect, wait_for
from tests.support.cli import needs_docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.compat, needs_docker_cli]


def _events(daemon: Daemon, name: str, since: int) -> list[str]:
    out = docker(daemon, "events", "--since", str(since), "--until", str(int(time.time()) + 1),
                 "--filter", f"container={name}", "--format", "{{json .}}").stdout
    return [json.loads(line)["Action"] for line in out.decode().splitlines() if line]


def test_on_failure_counts_restarts_then_gives_up(minke_daemon: Daemon,
                                                  busybox_image: str) -> None:
    name = unique("onfail")
    since = int(time.time()) - 1
    docker(minke_daemon, "run", "-d", "--name", name, "--restart", "on-failure:3",
           busybox_image, "sh", "-c", "exit 3")
    try:
        state = wait_for("three restarts, then exited", lambda: (
            (doc := inspect(minke_daemon, name))["RestartCount"] == 3
            and doc["State"]["Status"] == "exited" and doc))
        assert state["State"]["ExitCode"] == 3
        assert state["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                        "MaximumRetryCount": 3}
        actions = wait_for("four die events", lambda: (
            (a := _events(minke_daemon, name, since)).count("die") == 4 and a))
        # Docker's sequence: each restart is a die followed by a start, no "restart" event.
        assert actions == ["create", "start"] + ["die", "start"] * 3 + ["die"]
        time.sleep(1)  # the policy is exhausted: nothing more happens
        assert inspect(minke_daemon, name)["RestartCount"] == 3
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_on_failure_does_not_restart_success(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("onok")
    docker(minke_daemon, "run", "-d", "--name", name, "--restart", "on-failure",
           busybox_image, "true")
    try:
        wait_for("exit", lambda: inspect(minke_daemon, name)["State"]["Status"] == "exited")
        time.sleep(0.5)
        doc = inspect(minke_daemon, name)
        assert doc["RestartCount"] == 0 and doc["State"]["Status"] == "exited"
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_always_restarts_until_the_user_stops_it(minke_daemon: Daemon,
                                                 busybox_image: str) -> None:
    name = unique("always")
    docker(minke_daemon, "run", "-d", "--name", name, "--restart", "always", busybox_image,
           "sh", "-c", "sleep 0.2; exit 0")
    try:
        wait_for("two restarts", lambda: inspect(minke_daemon, name)["RestartCount"] >= 2)
        ps = docker(minke_daemon, "ps", "--filter", f"name={name}", "--format",
                    "{{.Status}}").stdout.decode()
        assert ps.startswith(("Up", "Restarting (0)")), ps
        docker(minke_daemon, "stop", "-t", "1", name)
        doc = inspect(minke_daemon, name)
        assert doc["State"]["Status"] == "exited" and not doc["State"]["Restarting"]
        count = doc["RestartCount"]
        time.sleep(1.5)  # longer than any backoff so far: a pending restart would show
        doc = inspect(minke_daemon, name)
        assert doc["State"]["Status"] == "exited" and doc["RestartCount"] == count
        # A user start resets the count, as Docker's.
        docker(minke_daemon, "start", name)
        assert inspect(minke_daemon, name)["RestartCount"] == 0
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_kill_with_other_signal_keeps_the_policy(minke_daemon: Daemon,
                                                 busybox_image: str) -> None:
    """``docker kill -s USR1`` is not a stop: a container that dies of it is restarted."""
    name = unique("usr1")
    docker(minke_daemon, "run", "-d", "--name", name, "--restart", "always", busybox_image,
           "sh", "-c", "trap 'exit 9' USR1; while true; do sleep 0.1; done")
    try:
        wait_for("running", lambda: inspect(minke_daemon, name)["State"]["Running"])
        time.sleep(0.3)  # the shell has set its trap
        docker(minke_daemon, "kill", "-s", "USR1", name)
        wait_for("a restart", lambda: inspect(minke_daemon, name)["RestartCount"] == 1)
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def _reboot(daemon: Daemon, ids: list[str]) -> None:
    """A host reboot as the containers see it: the daemon, every monitor and every container
    process die at once, and nothing records an exit."""
    pids = []
    for cid in ids:
        conmon = daemon.exec_root / "containers" / cid / "conmon.pid"
        if conmon.exists():
            pids.append(int(conmon.read_text()))
    inits = [int(inspect(daemon, cid)["State"]["Pid"]) for cid in ids]
    os.killpg(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait()
    for pid in pids + [p for p in inits if p]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_policies_across_a_host_reboot(busybox_tar: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-rb-", dir="/tmp"))
    daemon = start_daemon(root)
    try:
        with busybox_tar.open("rb") as f:
            subprocess.run([DOCKER, "import", "-", "bb:1"], stdin=f, env=daemon.env(),
                           check=True, capture_output=True)
        policies = {"always": "always", "unless": "unless-stopped", "never": "no",
                    "always-stopped": "always", "unless-stopped": "unless-stopped"}
        ids = {}
        for name, policy in policies.items():
            ids[name] = docker(daemon, "run", "-d", "--name", name, "--restart", policy, "bb:1",
                               "sleep", "1000").stdout.decode().strip()
        docker(daemon, "stop", "-t", "0", "always-stopped", "unless-stopped")
        running = [ids[n] for n in ("always", "unless", "never")]
        _reboot(daemon, running)
        daemon = start_daemon(root)
        for name in ("always", "unless", "always-stopped"):
            wait_for(f"{name} running again",
                     lambda n=name: inspect(daemon, n)["State"]["Status"] == "running")
        assert inspect(daemon, "never")["State"]["Status"] == "exited"
        assert inspect(daemon, "unless-stopped")["State"]["Status"] == "exited"
        ps = docker(daemon, "ps", "--format", "{{.Names}}").stdout.decode().split()
        assert sorted(ps) == ["always", "always-stopped", "unless"]
    finally:
        if daemon.process.poll() is None:
            remove_all_containers(daemon)
        stop_daemon(daemon)
        cleanup_root(root)
