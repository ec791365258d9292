"""``minke volume ...`` and minke's own run flags (-v, --mount keys) against minked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.conftest import Daemon, unique

pytestmark = pytest.mark.integration


def minke(daemon: Daemon, *args: str, input: str | None = None,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "minke.cli.main", *args], env=daemon.env(),
                          capture_output=True, text=True, input=input, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"minke {' '.join(args)} → {proc.returncode}: {proc.stderr}")
    return proc


def test_volume_verbs(minke_daemon: Daemon) -> None:
    vol, other = unique("vol"), unique("vol")
    assert minke(minke_daemon, "volume", "create", "--label", "k=v", vol).stdout == vol + "\n"
    minke(minke_daemon, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
          "--name", other)
    table = minke(minke_daemon, "volume", "ls").stdout.splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"] and f"local     {vol}" in table
    out = minke(minke_daemon, "volume", "ls", "-f", "label=k=v", "--format",
                "{{.Name}} {{.Labels}}").stdout
    assert out == f"{vol} k=v\n"
    doc = json.loads(minke(minke_daemon, "volume", "inspect", other).stdout)[0]
    assert doc["Options"] == {"type": "tmpfs", "device": "tmpfs"} and doc["Scope"] == "local"
    proc = minke(minke_daemon, "volume", "inspect", "nosuch-vol", check=False)
    assert proc.returncode == 1 and "Error: No such volume: nosuch-vol" in proc.stderr
    assert minke(minke_daemon, "volume", "prune", input="n\n").stdout.endswith("[y/N] ")
    assert vol in minke(minke_daemon, "volume", "ls", "-q").stdout.split()
    out = minke(minke_daemon, "volume", "prune", "-f", "--filter", "label=k").stdout
    assert vol in out and other not in out and "Total reclaimed space:" in out
    proc = minke(minke_daemon, "volume", "rm", other, "nosuch-vol", check=False)
    assert proc.stdout == other + "\n" and "get nosuch-vol: no such volume" in proc.stderr


def test_run_mount_flags(minke_daemon: Daemon, busybox_image: str) -> None:
    vol = unique("vol")
    out = minke(minke_daemon, "run", "--rm", "--network", "none", "--mount",
                f"type=volume,source={vol},target=/v,volume-nocopy,volume-label=team=a",
                "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777",
                busybox_image, "sh", "-c", "stat -c %a /t; df -k /t | tail -1").stdout.split()
    assert out[0] == "1777" and out[2] == "1024"
    doc = json.loads(minke(minke_daemon, "volume", "inspect", vol).stdout)[0]
    assert doc["Labels"] == {"team": "a"}
    minke(minke_daemon, "volume", "rm", vol)
