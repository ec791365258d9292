"""docker-py on a test daemon made the manager of a fresh swarm: what the swarm compat
tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker
import requests

from tests.conftest import Daemon


@contextmanager
def swarm_client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    """A client of ``daemon`` after it left any earlier swarm and initialised a new one;
    the swarm is left afterwards if the daemon still runs (a test may have killed it)."""
    client = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
    client.api.leave_swarm(force=True)
    client.swarm.init(advertise_addr="127.0.0.1")
    try:
        yield client
    finally:
        if daemon.process.poll() is None:
            try:
                client.api.leave_swarm(force=True)
            except requests.exceptions.ReadTimeout as exc:
                raise AssertionError("swarm leave hung; minked's stacks:\n"
                                     + daemon.stacks()) from exc
        client.close()
