"""Many daemons on one host: a bridge belongs to one minked at a time, the default bridge
is adopted with the address it has (as dockerd does with docker0), and minke takes off the
host only what it made. Every daemon here has a root of its own under /tmp and a bridge
name no one else uses; the bridges a test makes itself are named ``mkt...`` and removed."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon, cleanup_root, start_daemon, stop_daemon
from tests.support.cli import docker_text

pytestmark = pytest.mark.integration

OPT_NAME = "com.docker.network.bridge.name"


def ipv4(device: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", device],
                         capture_output=True, text=True, check=True).stdout
    return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(out)
            for a in link["addr_info"]]


def exists(device: str) -> bool:
    return subprocess.run(["ip", "link", "show", device], capture_output=True).returncode == 0


def table_exists(bridge: str) -> bool:
    return subprocess.run(["nft", "list", "table", "inet", f"minke_{bridge}"],
                          capture_output=True).returncode == 0


def fresh_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="mk-own-", dir="/tmp"))


@pytest.fixture
def roots() -> Iterator[list[tuple[Path, str]]]:
    """(root, default bridge) of each daemon a test starts; all cleaned up afterwards."""
    made: list[tuple[Path, str]] = []
    yield made
    for root, bridge in made:
        cleanup_root(root, bridge)


@pytest.fixture
def foreign_bridge() -> Iterator[str]:
    """A bridge minke did not make (as an administrator or Docker would have)."""
    name = "mkt" + secrets.token_hex(4)
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def start(roots: list[tuple[Path, str]], bridge: str, *extra: str) -> Daemon:
    root = fresh_root()
    roots.append((root, bridge))
    return start_daemon(root, "--bridge", bridge, *extra)


def default_subnet(daemon: Daemon) -> str:
    out = docker_text(daemon, "network", "inspect", "bridge").stdout
    return json.loads(out)[0]["IPAM"]["Config"][0]["Subnet"]


def test_forty_daemons_on_fresh_roots_share_one_bridge_name(
        roots: list[tuple[Path, str]]) -> None:
    """The issue's case: each minked on a new data root with the same default bridge name
    added one more subnet to it, until no pool was left. Now each adopts the address."""
    bridge = "mkt" + secrets.token_hex(4)
    for _ in range(40):
        stop_daemon(start(roots, bridge))  # start_daemon waits for /_ping to answer
    assert len(ipv4(bridge)) == 1
    for root, name in roots:
        cleanup_root(root, name)
    roots.clear()
    assert not exists(bridge) and not table_exists(bridge)


def test_one_bridge_one_live_daemon(roots: list[tuple[Path, str]], busybox_tar: Path,
                                    minke_daemon: Daemon) -> None:
    bridge = "mkt" + secrets.token_hex(4)
    first = start(roots, bridge)
    first_data = str(first.data_root)
    subnet = default_subnet(first)

    with pytest.raises(RuntimeError) as refused:
        start(roots, bridge)
    assert f"bridge {bridge} is the default bridge of another daemon" in str(refused.value)
    assert first_data in str(refused.value)

    # Its containers live on after it stops (live restore): a new daemon must not join them.
    docker_text(first, "import", "--change", 'CMD ["sh"]', str(busybox_tar), "busybox")
    docker_text(first, "run", "-d", "--name", "stays", "busybox", "sleep", "600")
    pid = int(docker_text(first, "inspect", "-f", "{{.State.Pid}}", "stays").stdout)
    try:
        stop_daemon(first)
        with pytest.raises(RuntimeError) as refused:
            start(roots, bridge)
        assert "has interfaces attached" in str(refused.value)
        assert first_data in str(refused.value)

        # Its own daemon takes it back with its containers; then the bridge is free.
        first = start_daemon(first.root, "--bridge", bridge)
        docker_text(first, "rm", "-f", "stays")
        stop_daemon(first)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a failed test must not leave it running
    second = start(roots, bridge)
    assert default_subnet(second) == subnet
    assert len(ipv4(bridge)) == 1
    stop_daemon(second)


def test_network_refuses_a_bridge_it_did_not_make(
        minke_daemon: Daemon, foreign_bridge: str, roots: list[tuple[Path, str]]) -> None:
    """``com.docker.network.bridge.name`` of a bridge another program made (Docker's API
    description suggests docker0) or another minked made: refused, the bridge untouched."""
    other = start(roots, "mkt" + secrets.token_hex(4))
    client = docker.APIClient(base_url=minke_daemon.host, version="1.41")
    try:
        for name, owner in ((foreign_bridge, "was not made by minke"),
                            (roots[-1][1], f"belongs to the minked with data root "
                             f"{other.data_root}")):
            before = ipv4(name)
            with pytest.raises(docker.errors.APIError) as refused:
                client.create_network("n" + secrets.token_hex(4), options={OPT_NAME: name})
            assert refused.value.response.status_code == 409
            assert f"bridge {name}" in str(refused.value) and owner in str(refused.value)
            assert exists(name) and ipv4(name) == before
    finally:
        client.close()
        stop_daemon(other)


def test_default_bridge_adopts_an_existing_one_and_leaves_it(
        roots: list[tuple[Path, str]], foreign_bridge: str) -> None:
    """As dockerd with a docker0 that exists: its address is the default network's; minke
    adds one only to a bridge without, takes it off again and never deletes the bridge."""
    daemon = start(roots, foreign_bridge)
    subnet = default_subnet(daemon)
    assert ipv4(foreign_bridge) and len(ipv4(foreign_bridge)) == 1
    stop_daemon(daemon)
    cleanup_root(*roots.pop())
    assert exists(foreign_bridge) and ipv4(foreign_bridge) == []
    assert not table_exists(foreign_bridge)

    subprocess.run(["ip", "addr", "add", "198.18.77.1/24", "dev", foreign_bridge], check=True)
    daemon = start(roots, foreign_bridge)
    assert default_subnet(daemon) == "198.18.77.0/24" != subnet
    stop_daemon(daemon)
    with pytest.raises(RuntimeError) as refused:
        start(roots, foreign_bridge, "--bip", "198.18.78.1/24")
    assert "--bip 198.18.78.1/24 conflicts with the address 198.18.77.1/24" in \
        str(refused.value)
    for root, bridge in roots:
        cleanup_root(root, bridge)
    roots.clear()
    assert exists(foreign_bridge) and ipv4(foreign_bridge) == ["198.18.77.1/24"]
