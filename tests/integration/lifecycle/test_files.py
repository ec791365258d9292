"""A container's files with the real docker CLI: ``cp`` both ways (running and stopped),
never escaping the root filesystem, ``diff``, ``export``, ``commit --change`` (with a
health check carried by the image), ``system df`` and prune filters."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import docker as dockerpy
import pytest
from tests.conftest import Daemon, unique
from tests.integration.lifecycle.lifecycle_support import DOCKER, docker, inspect, wait_for
from tests.support.cli import needs_docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.compat, needs_docker_cli]


@pytest.fixture
def box(minke_daemon: Daemon, busybox_image: str) -> str:
    name = unique("files")
    docker(minke_daemon, "run", "-d", "--name", name, busybox_image, "sh", "-c",
           "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && "
           "ln -sfn / /data/rootlink && ln -sfn ../../../../../../../tmp /data/up && sleep 1000")
    wait_for("files", lambda: docker(minke_daemon, "exec", name, "test", "-L", "/data/up",
                                     check=False).returncode == 0)
    yield name
    docker(minke_daemon, "rm", "-f", name, check=False)


def test_cp_round_trip(minke_daemon: Daemon, box: str, tmp_path: Path) -> None:
    docker(minke_daemon, "cp", f"{box}:/data/sub", str(tmp_path / "out"))
    assert (tmp_path / "out" / "b").read_text() == "two\n"
    local = tmp_path / "payload"
    (local / "deep").mkdir(parents=True)
    (local / "deep" / "f.txt").write_text("from the host\n")
    os.chmod(local / "deep" / "f.txt", 0o640)
    docker(minke_daemon, "cp", str(local), f"{box}:/data/")
    out = docker(minke_daemon, "exec", box, "sh", "-c",
                 "cat /data/payload/deep/f.txt; stat -c %a /data/payload/deep/f.txt").stdout
    assert out == b"from the host\n640\n"
    # ... and back again, under a new name.
    docker(minke_daemon, "cp", f"{box}:/data/payload", str(tmp_path / "back"))
    assert (tmp_path / "back" / "deep" / "f.txt").read_text() == "from the host\n"
    # A single file onto a new name, and the tar stream itself.
    docker(minke_daemon, "cp", str(local / "deep" / "f.txt"), f"{box}:/data/renamed.txt")
    assert docker(minke_daemon, "exec", box, "cat", "/data/renamed.txt").stdout == \
        b"from the host\n"
    raw = docker(minke_daemon, "cp", f"{box}:/data/a", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.getnames() == ["a"]
        assert tar.extractfile("a").read() == b"one\n"  # type: ignore[union-attr]


def test_cp_path_stat_header(minke_daemon: Daemon, box: str) -> None:
    api = dockerpy.APIClient(base_url=minke_daemon.host, version="1.41")
    try:
        stream, stat = api.get_archive(box, "/data/rootlink")
        b"".join(stream)
        assert stat["name"] == "rootlink" and stat["linkTarget"] == "/"
        assert stat["mode"] & (1 << 27)  # Go's os.ModeSymlink
        stream, stat = api.get_archive(box, "/data")
        b"".join(stream)
        assert stat["mode"] & (1 << 31)  # os.ModeDir
    finally:
        api.close()


def test_cp_never_leaves_the_rootfs(minke_daemon: Daemon, box: str, tmp_path: Path) -> None:
    marker = f"minke-escape-{unique()}"
    local = tmp_path / marker
    local.write_text("inside only\n")
    # /data/up is a symlink climbing far above the root; ../ in the path tries the same.
    docker(minke_daemon, "cp", str(local), f"{box}:/data/up/")
    docker(minke_daemon, "cp", str(local), f"{box}:/../../../../var/../tmp/")
    assert not Path("/tmp", marker).exists()
    assert docker(minke_daemon, "exec", box, "cat", f"/tmp/{marker}").stdout == b"inside only\n"
    # Reading through the symlink gets the container's file, not the host's.
    docker(minke_daemon, "cp", f"{box}:/data/rootlink/etc/hostname", str(tmp_path / "hn"))
    assert (tmp_path / "hn").read_text().strip() == inspect(minke_daemon, box)["Id"][:12]
    # A destination that does not exist in the container: a clear error, nothing written.
    before = docker(minke_daemon, "diff", box).stdout
    proc = docker(minke_daemon, "cp", str(local), f"{box}:/nonexistent/dir/x", check=False)
    assert proc.returncode != 0
    assert b"Could not find the file /nonexistent/dir in container" in proc.stderr
    assert docker(minke_daemon, "diff", box).stdout == before
    proc = docker(minke_daemon, "cp", f"{box}:/no/such/file", str(tmp_path), check=False)
    assert proc.returncode != 0 and b"/no/such/file" in proc.stderr


def test_cp_into_a_stopped_container(minke_daemon: Daemon, box: str, tmp_path: Path) -> None:
    docker(minke_daemon, "stop", "-t", "0", box)
    local = tmp_path / "late.txt"
    local.write_text("written while stopped\n")
    docker(minke_daemon, "cp", str(local), f"{box}:/data/")
    docker(minke_daemon, "cp", f"{box}:/data/late.txt", str(tmp_path / "again.txt"))
    assert (tmp_path / "again.txt").read_text() == "written while stopped\n"
    docker(minke_daemon, "start", box)
    assert docker(minke_daemon, "exec", box, "cat", "/data/late.txt").stdout == \
        b"written while stopped\n"


def test_diff_export_commit(minke_daemon: Daemon, box: str, tmp_path: Path) -> None:
    docker(minke_daemon, "exec", box, "rm", "/bin/vi")
    docker(minke_daemon, "exec", box, "sh", "-c", "echo x >> /etc/passwd")
    diff = docker(minke_daemon, "diff", box).stdout.decode().splitlines()
    assert "A /data" in diff and "A /data/a" in diff
    assert "D /bin/vi" in diff and "C /etc/passwd" in diff
    assert not any(line.endswith(("/etc/hosts", "/etc/resolv.conf")) for line in diff)
    exported = subprocess.run([DOCKER, "export", box], env=minke_daemon.env(),
                              capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = set(tar.getnames())
    assert {"data/a", "data/sub/b", "bin/sh"} <= names and "bin/vi" not in names
    image = f"committed-{unique()}:v1"
    docker(minke_daemon, "commit", "-c", "ENV STAGE=committed", "-c", 'CMD ["cat", "/data/a"]',
           "-m", "a message", "-a", "tester", box, image)
    doc = json.loads(docker(minke_daemon, "image", "inspect", image).stdout)[0]
    assert "STAGE=committed" in doc["Config"]["Env"]
    assert doc["Comment"] == "a message" and doc["Author"] == "tester"
    assert doc["Parent"] == inspect(minke_daemon, box)["Image"]
    assert docker(minke_daemon, "run", "--rm", image).stdout == b"one\n"
    out = docker(minke_daemon, "run", "--rm", image, "sh", "-c",
                 "test -e /bin/vi || echo gone").stdout
    assert out == b"gone\n"
    assert inspect(minke_daemon, box)["State"]["Status"] == "running"  # unpaused after
    docker(minke_daemon, "rmi", image)


def test_image_healthcheck_from_commit(minke_daemon: Daemon, box: str) -> None:
    """An image carrying a HEALTHCHECK (made by commit with a config) runs it, and the
    --health-* flags override its fields one by one, as Docker merges them."""
    api = dockerpy.APIClient(base_url=minke_daemon.host, version="1.41")
    image = f"withhealth-{unique()}"
    name = unique("imghealth")
    try:
        api.commit(box, repository=image, tag="1", conf={
            "Cmd": ["sleep", "1000"],
            "Healthcheck": {"Test": ["CMD-SHELL", "test -f /data/a"], "Interval": 10**9 * 3600,
                            "Retries": 1}})
        docker(minke_daemon, "run", "-d", "--name", name, "--health-interval", "100ms",
               f"{image}:1")
        config = inspect(minke_daemon, name)["Config"]["Healthcheck"]
        assert config["Test"] == ["CMD-SHELL", "test -f /data/a"]
        assert config["Interval"] == 100_000_000 and config["Retries"] == 1
        wait_for("healthy", lambda: (inspect(minke_daemon, name)["State"].get("Health") or {})
                 .get("Status") == "healthy")
    finally:
        docker(minke_daemon, "rm", "-f", name, check=False)
        docker(minke_daemon, "rmi", f"{image}:1", check=False)
        api.close()


def test_system_df_and_prune_filters(minke_daemon: Daemon, busybox_image: str) -> None:
    keep, drop, running = unique("keep"), unique("drop"), unique("run")
    docker(minke_daemon, "create", "--name", keep, "--label", "keep=yes", busybox_image, "true")
    docker(minke_daemon, "run", "--name", drop, "--label", "keep=no", busybox_image, "sh", "-c",
           "echo data > /file")
    docker(minke_daemon, "run", "-d", "--name", running, busybox_image, "sleep", "1000")
    try:
        df = json.loads(docker(minke_daemon, "system", "df", "--format", "{{json .}}").stdout
                        .decode().splitlines()[1])
        assert df["Type"] == "Containers" and int(df["TotalCount"]) >= 3
        api = dockerpy.APIClient(base_url=minke_daemon.host, version="1.41")
        usage = api.df()
        api.close()
        mine = {c["Names"][0]: c for c in usage["Containers"]}
        assert mine["/" + drop]["SizeRw"] > 0 and usage["LayersSize"] > 0
        assert any(i["Containers"] >= 3 for i in usage["Images"])
        drop_id = inspect(minke_daemon, drop)["Id"]
        out = docker(minke_daemon, "container", "prune", "-f", "--filter", "label=keep=no")
        assert out.stdout.decode().splitlines()[1] == drop_id
        names = docker(minke_daemon, "ps", "-a", "--format", "{{.Names}}").stdout.decode()
        assert keep in names and running in names and drop not in names
        docker(minke_daemon, "container", "prune", "-f", "--filter", "until=1h")
        assert keep in docker(minke_daemon, "ps", "-a", "--format", "{{.Names}}").stdout.decode()
        proc = docker(minke_daemon, "container", "prune", "-f", "--filter", "nope=1",
                      check=False)
        assert proc.returncode != 0 and b"invalid filter 'nope'" in proc.stderr
    finally:
        docker(minke_daemon, "rm", "-f", keep, drop, running, check=False)
