"""A task's secret and config files on a real tmpfs (``swarm.taskfiles``): owners, modes,
read-only, in memory only, and seen by a real container through the mounts returned;
``release`` leaves nothing mounted."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon

from minke.engine.volumes.hostmounts import is_mount_point
from minke.swarm import taskfiles
from minke.swarm.ca import DataKey
from minke.swarm.manager.secrets import SECRET, PayloadAPI
from minke.swarm.store import SQLiteStore

pytestmark = pytest.mark.integration

SPEC = {
    "Secrets": [{"SecretID": "s1", "SecretName": "db", "File": {
        "Name": "db", "UID": "1000", "GID": "1001", "Mode": 0o400}}],
    "Configs": [{"ConfigID": "c1", "ConfigName": "app", "File": {
        "Name": "/etc/app.conf", "UID": "0", "GID": "0", "Mode": 0o444}}],
}


def mount_entry(path: Path) -> tuple[str, set[str]]:
    """(filesystem type, mount options) of the mount at ``path``, from the kernel."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if parts[4] == str(path):
            return rest.split()[0], set(parts[5].split(","))
    raise AssertionError(f"{path} is not a mount point")


def test_files_on_a_read_only_tmpfs(tmp_path: Path) -> None:
    directory = tmp_path / "task"
    files = taskfiles.plan(SPEC, {"s1": b"pw"}, {"c1": b"port=1"})
    mounts = taskfiles.materialise(directory, files)
    try:
        fs_type, options = mount_entry(directory)
        assert fs_type == "tmpfs" and {"ro", "nodev", "nosuid", "noexec"} <= options
        secret = Path(mounts[0]["Source"])
        st = secret.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o400)
        assert secret.read_bytes() == b"pw"
        assert stat.S_IMODE(Path(mounts[1]["Source"]).stat().st_mode) == 0o444
        with pytest.raises(OSError):
            (directory / "other").write_bytes(b"x")
    finally:
        taskfiles.release(directory)
    assert not is_mount_point(directory) and not directory.exists()


def test_a_container_reads_them_through_the_mounts(tmp_path: Path, minke_daemon: Daemon,
                                                   busybox_image: str) -> None:
    directory = tmp_path / "task"
    files = taskfiles.plan(SPEC, {"s1": b"pw"}, {"c1": b"port=1"})
    mounts = taskfiles.materialise(directory, files)
    client = docker.DockerClient(base_url=minke_daemon.host, version="1.41", timeout=60)
    try:
        out = client.containers.run(
            busybox_image, ["sh", "-c", "stat -c '%u:%g %a' /run/secrets/db; "
                            "cat /run/secrets/db /etc/app.conf; echo; "
                            "echo x > /run/secrets/db || echo refused"],
            mounts=[docker.types.Mount(m["Target"], m["Source"], type="bind",
                                       read_only=True) for m in mounts],
            remove=True)
        assert out.decode().splitlines() == ["1000:1001 400", "pwport=1", "refused"]
    finally:
        client.close()
        taskfiles.release(directory)
    assert not os.path.exists(directory)


def test_prepare_reads_the_store_and_lays_out_the_files(tmp_path: Path) -> None:
    asyncio.run(prepare_from_store(tmp_path))


async def prepare_from_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    key = DataKey.generate()
    sid = await PayloadAPI(store, key, SECRET).create(
        {"Name": "db", "Data": base64.b64encode(b"pw").decode()})
    spec = {"Secrets": [{"SecretID": sid, "SecretName": "db", "File": {
        "Name": "db", "UID": "0", "GID": "0", "Mode": 0o440}}]}
    directory = tmp_path / "task"
    try:
        [mount] = await taskfiles.prepare(store, key, spec, directory)
        assert mount["Target"] == "/run/secrets/db"
        assert Path(mount["Source"]).read_bytes() == b"pw"
        assert await taskfiles.prepare(store, key, {}, tmp_path / "none") == []
    finally:
        taskfiles.release(directory)
        await store.close()
