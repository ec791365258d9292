"""Health checks with the real docker CLI: starting → healthy → unhealthy, the log, events,
the status in ``docker ps``, timeouts, and Docker's create-time validation."""

from __future__ import annotations

import json
import time

import docker as dockerpy
import pytest
from tests.conftest import Daemon, unique
from tests.integration.lifecycle.lifecycle_support import docker, inspect, wait_for
from tests.support.cli import needs_docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.compat, needs_docker_cli]


def _health(daemon: Daemon, name: str) -> dict:
    return inspect(daemon, name)["State"].get("Health") or {}


def _ps_status(daemon: Daemon, name: str) -> str:
    return docker(daemon, "ps", "-a", "--filter", f"name={name}", "--format",
                  "{{.Status}}").stdout.decode().strip()


def test_health_turns_healthy_then_unhealthy(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("health")
    since = int(time.time()) - 1
    docker(minke_daemon, "run", "-d", "--name", name, "--health-cmd", "cat /tmp/ok",
           "--health-interval", "200ms", "--health-retries", "2", busybox_image,
           "sh", "-c", "echo fine > /tmp/ok; sleep 1000")
    try:
        wait_for("healthy", lambda: _health(minke_daemon, name).get("Status") == "healthy")
        assert _ps_status(minke_daemon, name).endswith("(healthy)")
        log = _health(minke_daemon, name)["Log"]
        assert log[-1]["ExitCode"] == 0 and log[-1]["Output"] == "fine\n"
        assert log[-1]["Start"] <= log[-1]["End"]
        filtered = docker(minke_daemon, "ps", "--filter", "health=healthy", "--format",
                          "{{.Names}}").stdout.decode().split()
        assert name in filtered
        docker(minke_daemon, "exec", name, "rm", "/tmp/ok")
        health = wait_for("unhealthy", lambda: (
            (h := _health(minke_daemon, name)).get("Status") == "unhealthy" and h))
        assert health["FailingStreak"] >= 2
        assert len(health["Log"]) <= 5
        assert health["Log"][-1]["ExitCode"] == 1
        assert "No such file" in health["Log"][-1]["Output"]
        assert _ps_status(minke_daemon, name).endswith("(unhealthy)")
        out = docker(minke_daemon, "events", "--since", str(since), "--until",
                     str(int(time.time()) + 1), "--filter", f"container={name}",
                     "--format", "{{json .}}").stdout.decode()
        actions = [json.loads(line)["Action"] for line in out.splitlines()]
        assert "health_status: healthy" in actions
        assert actions.index("health_status: healthy") < actions.index(
            "health_status: unhealthy")
        assert any(a.startswith("exec_start: /bin/sh -c cat /tmp/ok") for a in actions)
        # The probes are not user execs: only the `docker exec rm` is listed.
        assert len(inspect(minke_daemon, name)["ExecIDs"]) == 1
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_health_starting_and_stop(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("hstart")
    docker(minke_daemon, "run", "-d", "--name", name, "--health-cmd", "true",
           "--health-interval", "1h", busybox_image, "sleep", "1000")
    try:
        assert _health(minke_daemon, name) == {"Status": "starting", "FailingStreak": 0,
                                               "Log": []}
        assert _ps_status(minke_daemon, name).endswith("(health: starting)")
        docker(minke_daemon, "stop", "-t", "0", name)
        # Docker marks the health of a stopped container unhealthy.
        assert _health(minke_daemon, name)["Status"] == "unhealthy"
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_health_timeout_and_start_period(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("htime")
    docker(minke_daemon, "run", "-d", "--name", name, "--health-cmd", "sleep 10",
           "--health-timeout", "300ms", "--health-interval", "100ms", "--health-retries", "1",
           busybox_image, "sleep", "1000")
    try:
        health = wait_for("unhealthy", lambda: (
            (h := _health(minke_daemon, name)).get("Status") == "unhealthy" and h))
        assert health["Log"][0]["ExitCode"] == -1
        assert health["Log"][0]["Output"] == "Health check exceeded timeout (300ms)"
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
    name = unique("hperiod")
    docker(minke_daemon, "run", "-d", "--name", name, "--health-cmd", "false",
           "--health-interval", "100ms", "--health-retries", "1", "--health-start-period",
           "1h", busybox_image, "sleep", "1000")
    try:
        wait_for("failed probes", lambda: len(_health(minke_daemon, name).get("Log", [])) >= 3)
        health = _health(minke_daemon, name)
        # Failures within the start period do not count while the container is starting.
        assert health["Status"] == "starting" and health["FailingStreak"] == 0
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_no_healthcheck_and_validation(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("hnone")
    docker(minke_daemon, "run", "-d", "--name", name, "--no-healthcheck", busybox_image,
           "sleep", "1000")
    try:
        assert "Health" not in inspect(minke_daemon, name)["State"]
        assert _ps_status(minke_daemon, name).startswith("Up")
        assert "(" not in _ps_status(minke_daemon, name)
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
    api = dockerpy.APIClient(base_url=minke_daemon.host, version="1.41")
    try:
        with pytest.raises(dockerpy.errors.APIError) as err:
            api.create_container(busybox_image, ["true"], healthcheck={
                "Test": ["CMD", "true"], "Interval": 1000})
        assert err.value.status_code == 400
        assert "Interval in Healthcheck cannot be less than 1ms" in str(err.value)
        with pytest.raises(dockerpy.errors.APIError) as err:
            api.create_container(busybox_image, ["true"], healthcheck={
                "Test": ["CMD", "true"], "Retries": -1})
        assert "Retries in Healthcheck cannot be negative" in str(err.value)
    finally:
        api.close()
