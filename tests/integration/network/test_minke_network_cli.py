"""``minke network ...`` and ``minke port`` as a user runs them against the session minked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.conftest import Daemon, unique

pytestmark = pytest.mark.integration


def minke(daemon: Daemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "minke.cli", *args], env=daemon.env(),
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"minke {' '.join(args)} → {proc.returncode}: {proc.stderr}")
    return proc


def test_network_verbs(minke_daemon: Daemon, busybox_image: str) -> None:
    net = unique("mnet")
    container = unique("mc")
    try:
        network_id = minke(minke_daemon, "network", "create", "--subnet", "10.215.3.0/24",
                           "--label", "team=db", net).stdout.strip()
        assert len(network_id) == 64
        listing = minke(minke_daemon, "network", "ls", "--filter", f"name={net}").stdout
        assert listing.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert net in listing and network_id[:12] in listing
        names = minke(minke_daemon, "network", "ls", "--format", "{{.Name}}").stdout.split()
        assert {"bridge", "host", "none", net} <= set(names)
        minke(minke_daemon, "run", "-d", "--name", container, "-p", "127.0.0.1::80",
              busybox_image, "sleep", "300")
        port = minke(minke_daemon, "port", container).stdout
        assert port.startswith("80/tcp -> 127.0.0.1:")
        minke(minke_daemon, "network", "connect", "--ip", "10.215.3.77", net, container)
        inspected = json.loads(minke(minke_daemon, "network", "inspect", net).stdout)[0]
        members = list(inspected["Containers"].values())
        assert members[0]["Name"] == container
        assert members[0]["IPv4Address"] == "10.215.3.77/24"
        refused = minke(minke_daemon, "network", "rm", net, check=False)
        assert refused.returncode != 0 and "active endpoints" in refused.stderr
        minke(minke_daemon, "network", "disconnect", net, container)
        minke(minke_daemon, "network", "rm", net)
        missing = minke(minke_daemon, "network", "inspect", net, check=False)
        assert missing.returncode != 0 and f"No such network: {net}" in missing.stderr
    finally:
        minke(minke_daemon, "rm", "-f", container, check=False)
        minke(minke_daemon, "network", "rm", "-f", net, check=False)


def test_network_prune(minke_daemon: Daemon) -> None:
    net = unique("prune")
    try:
        minke(minke_daemon, "network", "create", "--label", f"prune={net}", net)
        out = minke(minke_daemon, "network", "prune", "-f", "--filter",
                    f"label=prune={net}").stdout
        assert out == f"Deleted Networks:\n{net}\n"
    finally:
        minke(minke_daemon, "network", "rm", "-f", net, check=False)
