"""A swarm on the etcd cluster store through docker-py: minked runs its own etcd member
(``--cluster-store-serve``) with its data under the data root, services run and survive a
restart of minked (and of its etcd); a store that does not answer fails ``swarm init``
with a clear 503 and leaves the node out of any swarm; ``minke swarm migrate-store`` moves
a running swarm from SQLite to etcd."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon, import_busybox, private_daemon, start_daemon
from tests.support.cli import DOCKER, docker_text
from tests.support.etcd import free_port, start_member
from tests.support.polling import wait_for

from minke.swarm.store.etcdserver import EtcdServer

pytestmark = [pytest.mark.compat, pytest.mark.integration]

GRACE = 1_000_000_000


@pytest.fixture
def etcd_daemon(busybox_tar: Path) -> Iterator[tuple[Daemon, str]]:
    store = f"etcd://127.0.0.1:{free_port()}/swarm"
    with private_daemon("mk-etcd-", "--cluster-store", store, "--cluster-store-serve") as d:
        import_busybox(d, busybox_tar)
        yield d, store


def running(client: docker.DockerClient, service: object) -> set[str]:
    tasks = service.tasks()  # type: ignore[attr-defined]
    return {t["Status"]["ContainerStatus"]["ContainerID"] for t in tasks
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"}


def test_swarm_on_hosted_etcd_survives_a_restart(etcd_daemon: tuple[Daemon, str]) -> None:
    daemon, store = etcd_daemon
    member = EtcdServer(daemon.data_root / "etcd")
    assert member.running_pid() is not None  # minked started it, PID recorded
    client = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
    client.swarm.init(advertise_addr="127.0.0.1")
    service = client.services.create("busybox", ["sleep", "600"], name="web",
                                     stop_grace_period=GRACE,
                                     mode=docker.types.ServiceMode("replicated", replicas=2))
    before = wait_for("2 running tasks", lambda: len(c := running(client, service)) == 2 and c)
    [node] = client.nodes.list()
    assert node.attrs["ManagerStatus"]["Leader"] is True
    if os.path.exists(DOCKER):
        listing = docker_text(daemon, "node", "ls", "--format", "{{.ManagerStatus}}").stdout
        assert listing.split() == ["Leader"]
        assert client.info()["Swarm"]["Managers"] == 1
    assert not (daemon.data_root / "swarm" / "store.db").exists()  # the state is in etcd
    client.close()

    os.kill(daemon.process.pid, signal.SIGTERM)  # minked and its etcd stop; tasks run on
    daemon.process.wait(20)
    assert member.running_pid() is None and not member.pid_file.exists()
    restarted = start_daemon(daemon.root, "--cluster-store", store, "--cluster-store-serve")
    daemon.process = restarted.process
    client = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
    assert client.info()["Swarm"]["LocalNodeState"] == "active"
    service = client.services.get("web")
    assert wait_for("the same 2 tasks", lambda: running(client, service) == before)
    client.api.leave_swarm(force=True)  # the last manager: the swarm's state goes ...
    client.swarm.init(advertise_addr="127.0.0.1")  # ... and the prefix takes a new one
    assert client.services.list() == []
    client.api.leave_swarm(force=True)
    client.close()


def test_store_that_does_not_answer_fails_init_clearly(busybox_tar: Path) -> None:
    store = f"etcd://127.0.0.1:{free_port()}/swarm"
    with private_daemon("mk-etcd-", "--cluster-store", store) as daemon:
        client = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
        with pytest.raises(docker.errors.APIError) as failed:
            client.swarm.init(advertise_addr="127.0.0.1")
        assert failed.value.status_code == 503
        assert f"cluster store {store} does not answer" in str(failed.value.explanation)
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        client.close()


def test_migrate_store_keeps_services_running(busybox_tar: Path, tmp_path: Path) -> None:
    """``minke swarm migrate-store``: the tasks run on, untouched, the manager works on
    etcd (a new service runs), and a restart without flags stays on etcd."""
    member = start_member(tmp_path)
    try:
        with private_daemon("mk-mig-") as daemon:
            import_busybox(daemon, busybox_tar)
            client = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
            client.swarm.init(advertise_addr="127.0.0.1")
            service = client.services.create(
                "busybox", ["sleep", "600"], name="web", stop_grace_period=GRACE,
                mode=docker.types.ServiceMode("replicated", replicas=2))
            before = wait_for("2 running tasks",
                              lambda: len(c := running(client, service)) == 2 and c)
            target = member.config("migrated").url
            moved = subprocess.run(
                [sys.executable, "-m", "minke.cli.main", "swarm", "migrate-store", "--to",
                 target], env=daemon.env(), capture_output=True, text=True, timeout=60)
            assert moved.returncode == 0, moved.stderr
            assert f"objects to {target}" in moved.stdout
            swarm_dir = daemon.data_root / "swarm"
            assert (swarm_dir / "store.json").exists()
            assert not (swarm_dir / "store.db").exists()  # kept as store.db.migrated
            assert running(client, service) == before  # nothing restarted
            service.reload()  # the versions are etcd's revisions now
            assert service.version > 0
            api = client.services.create("busybox", ["sleep", "600"], name="api",
                                         stop_grace_period=GRACE)
            wait_for("the new service's task", lambda: len(running(client, api)) == 1)
            assert running(client, service) == before
            client.close()
            os.kill(daemon.process.pid, signal.SIGTERM)
            daemon.process.wait(20)
            daemon.process = start_daemon(daemon.root).process  # no --cluster-store
            client = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
            service = client.services.get("web")
            assert wait_for("the same tasks after the restart",
                            lambda: running(client, service) == before)
            assert len(client.services.list()) == 2
            again = subprocess.run(
                [sys.executable, "-m", "minke.cli.main", "swarm", "migrate-store", "--to",
                 target], env=daemon.env(), capture_output=True, text=True, timeout=60)
            assert again.returncode != 0 and "not on the SQLite store" in again.stderr
            client.api.leave_swarm(force=True)
            client.close()
    finally:
        member.server.stop()
