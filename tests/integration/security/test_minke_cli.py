"""minke's own CLI for limits: ``minke run`` with limits and bad input, ``minke stats``,
``minke update``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import Daemon, unique
from tests.integration.security.security_support import inspect

pytestmark = [pytest.mark.integration]


def minke(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minke.cli", *args], env=daemon.env(),
                          capture_output=True, text=True, timeout=60)


def test_minke_run_stats_update(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("mk")
    proc = minke(minke_daemon, "run", "-d", "--name", name, "--network", "none", "-m", "32m",
                 "--cpus", "0.25", busybox_image, "sleep", "300")
    assert proc.returncode == 0, proc.stderr
    try:
        out = minke(minke_daemon, "stats", "--no-stream", "--format",
                    "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", name)
        assert out.returncode == 0, out.stderr
        row = out.stdout.strip().split("|")
        assert row[0] == name and row[1].endswith("/ 32MiB") and row[2] == "1"
        proc = minke(minke_daemon, "update", "-m", "48m", "--memory-swap", "96m", name)
        assert proc.returncode == 0 and proc.stdout.strip() == name, proc.stderr
        assert inspect(minke_daemon, name)["HostConfig"]["Memory"] == 48 * 2**20
        proc = minke(minke_daemon, "update", "--cpus", "-1", name)
        assert proc.returncode == 1 and "Range of CPUs" in proc.stderr
    finally:
        minke(minke_daemon, "rm", "-f", name)


@pytest.mark.parametrize(("flags", "message"), [
    (["--memory", "10x"], 'invalid argument "10x" for "-m, --memory" flag: invalid suffix'),
    (["--cpus", "-1"], "Range of CPUs is from 0.01 to"),
    (["--cap-add", "BOGUS"], 'unknown capability: "CAP_BOGUS"'),
    (["--security-opt", "seccomp=/nonexistent/p.json"],
     "opening seccomp profile (/nonexistent/p.json) failed"),
])
def test_minke_run_bad_input(minke_daemon: Daemon, busybox_image: str, flags: list[str],
                             message: str) -> None:
    proc = minke(minke_daemon, "run", "--rm", *flags, busybox_image, "true")
    assert proc.returncode == 125 and message in proc.stderr, proc.stderr
