"""PID 1 and its signals with the real docker CLI: ``--init``, ``--stop-signal``,
``--stop-timeout``, and pause/unpause freezing a running counter."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique
from tests.integration.lifecycle.lifecycle_support import docker, inspect, wait_for
from tests.support.cli import needs_docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.compat, needs_docker_cli]


def test_init_runs_as_pid_1(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("init")
    out = docker(minke_daemon, "run", "--name", name, "--init", busybox_image,
                 "cat", "/proc/1/cmdline").stdout
    try:
        assert out.split(b"\0")[:3] == [b"/sbin/docker-init", b"--", b"cat"]
        doc = inspect(minke_daemon, name)
        assert doc["HostConfig"]["Init"] is True
        assert doc["Path"] == "cat"  # inspect shows the user's command, as Docker's
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
    # Without --init the command itself is PID 1.
    out = docker(minke_daemon, "run", "--rm", busybox_image, "cat", "/proc/1/cmdline").stdout
    assert out.split(b"\0")[0] == b"cat"


def test_init_forwards_stop_and_reaps(minke_daemon: Daemon, busybox_image: str) -> None:
    """A plain ``sleep`` as PID 1 ignores SIGTERM; under the init it is passed on."""
    name = unique("initstop")
    docker(minke_daemon, "run", "-d", "--name", name, "--init", busybox_image, "sleep", "1000")
    try:
        # The init sets up its signal handling before it starts its child: a SIGTERM that
        # lands earlier meets a PID 1 without handlers and is dropped, under Docker too.
        wait_for("the init's child", lambda: b"sleep 1000" in docker(
            minke_daemon, "top", name).stdout)
        docker(minke_daemon, "stop", "-t", "20", name)
        assert inspect(minke_daemon, name)["State"]["ExitCode"] == 143  # SIGTERM, not KILL
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_stop_signal_and_timeout(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("stopsig")
    docker(minke_daemon, "run", "-d", "--name", name, "--stop-signal", "USR1",
           "--stop-timeout", "20", busybox_image, "sh", "-c",
           "trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done")
    try:
        doc = inspect(minke_daemon, name)
        assert doc["Config"]["StopSignal"] == "USR1" and doc["Config"]["StopTimeout"] == 20
        wait_for("ready", lambda: b"ready" in docker(minke_daemon, "logs", name).stdout)
        docker(minke_daemon, "stop", name)
        assert inspect(minke_daemon, name)["State"]["ExitCode"] == 0
        assert b"got-usr1" in docker(minke_daemon, "logs", name).stdout
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
    name = unique("stoptime")
    # PID 1 without a handler ignores SIGTERM: the stop timeout ends in SIGKILL.
    docker(minke_daemon, "run", "-d", "--name", name, "--stop-timeout", "1", busybox_image,
           "sleep", "1000")
    try:
        docker(minke_daemon, "stop", name)
        assert inspect(minke_daemon, name)["State"]["ExitCode"] == 137
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
    proc = docker(minke_daemon, "create", "--stop-signal", "NOPE", busybox_image, "true",
                  check=False)
    assert proc.returncode != 0 and b"Invalid signal: NOPE" in proc.stderr


def test_pause_freezes_a_counter(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("pause")
    since = int(time.time()) - 1
    docker(minke_daemon, "run", "-d", "--name", name, busybox_image, "sh", "-c",
           "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done")
    try:
        counter = Path(inspect(minke_daemon, name)["GraphDriver"]["Data"]["MergedDir"],
                       "tmp", "count")

        def value() -> int:
            text = counter.read_text().strip() if counter.exists() else ""
            return int(text) if text else 0

        wait_for("counting", lambda: value() > 3)
        docker(minke_daemon, "pause", name)
        assert inspect(minke_daemon, name)["State"]["Status"] == "paused"
        assert "(Paused)" in docker(minke_daemon, "ps", "--filter", f"name={name}",
                                    "--format", "{{.Status}}").stdout.decode()
        frozen = value()
        time.sleep(0.5)  # twenty-five ticks of the loop, had it run
        assert value() == frozen
        proc = docker(minke_daemon, "exec", name, "true", check=False)
        assert proc.returncode != 0 and b"paused" in proc.stderr
        docker(minke_daemon, "unpause", name)
        wait_for("counting again", lambda: value() > frozen)
        out = docker(minke_daemon, "events", "--since", str(since), "--until",
                     str(int(time.time()) + 1), "--filter", f"container={name}",
                     "--format", "{{json .}}").stdout.decode()
        actions = [json.loads(line)["Action"] for line in out.splitlines()]
        assert actions[-2:] == ["pause", "unpause"]
        # A paused container stops (thawed first, as Docker does).
        docker(minke_daemon, "pause", name)
        docker(minke_daemon, "stop", "-t", "1", name)
        assert inspect(minke_daemon, name)["State"]["Status"] == "exited"
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
