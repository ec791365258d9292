"""Real etcd members for tests: Debian's ``etcd`` on free loopback ports in a temp dir
(``minke.swarm.store.etcdserver``), and a unique key prefix per test so one member serves a
whole session. A conftest enables the fixture with ``from tests.support.etcd import etcd``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minke.swarm.store.etcdconn import EtcdConfig
from minke.swarm.store.etcdserver import EtcdServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Etcd:
    server: EtcdServer
    endpoint: str  # host:port

    def config(self, prefix: str | None = None) -> EtcdConfig:
        """A fresh prefix unless one is given: every test its own key space."""
        prefix = prefix or f"t-{uuid.uuid4().hex[:12]}"
        return EtcdConfig.parse(f"etcd://{self.endpoint}/{prefix}")


# A manager process that only campaigns: it prints "leading" once elected and keeps its
# lease alive until killed (what a minked manager's election does).
MANAGER = """
import asyncio, sys
from minke.swarm.manager.election import Election
from minke.swarm.store.etcd import EtcdStore
from minke.swarm.store.etcdconn import EtcdConfig

async def main():
    election = Election(EtcdStore(EtcdConfig.parse(sys.argv[1])), sys.argv[2])
    await election.campaign()
    print("leading", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def spawn_manager(url: str, node_id: str) -> subprocess.Popen[str]:
    """A campaigning manager process on the etcd store at ``url`` (kill it when done)."""
    src = Path(__file__).resolve().parents[2] / "src"
    return subprocess.Popen([sys.executable, "-c", MANAGER, url, node_id],
                            env={**os.environ, "PYTHONPATH": str(src)},
                            stdout=subprocess.PIPE, text=True)


def start_member(root: Path, name: str = "m0") -> Etcd:
    client, peer = free_port(), free_port()
    server = EtcdServer(root / name, client_url=f"http://127.0.0.1:{client}",
                        peer_url=f"http://127.0.0.1:{peer}", name=name,
                        cluster_token=f"minke-test-{uuid.uuid4().hex[:8]}")
    server.start()
    return Etcd(server, f"127.0.0.1:{client}")


def start_cluster(root: Path, size: int, host: str = "127.0.0.1") -> list[Etcd]:
    """``size`` members of one new cluster, started together (none is ready alone), on
    ``host`` (a local address: loopback, or a cluster harness's underlay gateway)."""
    token = f"minke-test-{uuid.uuid4().hex[:8]}"
    ports = [(free_port(), free_port()) for _ in range(size)]
    peers = {f"m{i}": f"http://{host}:{peer}" for i, (_, peer) in enumerate(ports)}
    members = [Etcd(EtcdServer(root / f"m{i}", client_url=f"http://{host}:{client}",
                               peer_url=peers[f"m{i}"], name=f"m{i}", peers=peers,
                               cluster_token=token), f"{host}:{client}")
               for i, (client, _) in enumerate(ports)]
    try:
        for member in members:
            member.server.spawn()
        for member in members:
            member.server.wait_ready()
    except BaseException:
        for member in members:
            member.server.stop()
        raise
    return members


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    """One etcd member for the session (started on first use, stopped at the end)."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd is missing: scripts/install installs Debian's etcd-server")
    member = start_member(tmp_path_factory.mktemp("etcd"))
    try:
        yield member
    finally:
        member.server.stop()
