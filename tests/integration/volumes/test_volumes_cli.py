"""Volumes, binds and tmpfs through the real docker CLI against minked (issue #5)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import Daemon, cleanup_root, unique

Docker = Callable[..., subprocess.CompletedProcess[str]]
APP_MTIME = 1_000_000_000  # as the app_image fixture (conftest.py) writes /srv/app

pytestmark = [pytest.mark.integration, pytest.mark.compat]


@pytest.fixture
def host_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mkvol-", dir="/tmp"))
    yield path
    cleanup_root(path)  # unmounts what a test mounted under it, deepest first


def volume_names(docker: Docker) -> set[str]:
    return set(docker("volume", "ls", "-q").stdout.split())


def inspect(docker: Docker, kind: str, name: str) -> dict:
    return json.loads(docker(kind, "inspect", name).stdout)[0]


def test_write_in_one_container_read_in_the_next(docker: Docker, busybox_image: str) -> None:
    vol = unique("vol")
    docker("run", "--rm", "-v", f"{vol}:/data", busybox_image, "sh", "-c",
           "echo persisted > /data/f")
    assert vol in volume_names(docker)  # created on first use, kept after --rm
    out = docker("run", "--rm", "-v", f"{vol}:/data", busybox_image, "cat", "/data/f").stdout
    assert out == "persisted\n"
    docker("volume", "rm", vol)
    assert vol not in volume_names(docker)


def test_image_content_copied_into_fresh_volume(docker: Docker, app_image: str) -> None:
    vol = unique("vol")
    out = docker("run", "--rm", "-v", f"{vol}:/srv/app", app_image, "sh", "-c",
                 "stat -c '%n %u:%g %a %Y' /srv/app /srv/app/index.html /srv/app/secret; "
                 "cat /srv/app/index.html").stdout.splitlines()
    assert out == [
        f"/srv/app 33:33 750 {APP_MTIME}",
        f"/srv/app/index.html 33:33 640 {APP_MTIME}",
        f"/srv/app/secret 33:33 600 {APP_MTIME}",
        "hello from the image",
    ]
    data = Path(inspect(docker, "volume", vol)["Mountpoint"])
    assert os.getxattr(data / "index.html", "user.origin") == b"image"
    docker("volume", "rm", vol)


def test_no_copy_into_non_empty_volume_nor_with_nocopy(docker: Docker, busybox_image: str,
                                                       app_image: str) -> None:
    full, empty = unique("vol"), unique("vol")
    docker("run", "--rm", "-v", f"{full}:/srv/app", busybox_image, "sh", "-c",
           "echo mine > /srv/app/own")
    out = docker("run", "--rm", "-v", f"{full}:/srv/app", app_image, "ls", "/srv/app").stdout
    assert out.split() == ["own"]
    out = docker("run", "--rm", "--mount",
                 f"type=volume,source={empty},target=/srv/app,volume-nocopy",
                 app_image, "ls", "-A", "/srv/app").stdout
    assert out == ""
    out = docker("run", "--rm", "-v", f"{empty}:/srv/app:nocopy", app_image,
                 "ls", "-A", "/srv/app").stdout
    assert out == ""
    docker("volume", "rm", full, empty)


def test_copy_up_happens_once(docker: Docker, app_image: str) -> None:
    vol = unique("vol")
    docker("run", "--rm", "-v", f"{vol}:/srv/app", app_image, "sh", "-c", "rm -rf /srv/app/*")
    out = docker("run", "--rm", "-v", f"{vol}:/srv/app", app_image, "ls", "-A", "/srv/app")
    assert out.stdout == ""
    docker("volume", "rm", vol)


def test_read_only_mounts_refuse_writes(docker: Docker, busybox_image: str,
                                        host_dir: Path) -> None:
    vol = unique("vol")
    cases = [["-v", f"{vol}:/data:ro"], ["-v", f"{host_dir}:/data:ro"],
             ["--mount", f"type=bind,source={host_dir},target=/data,readonly"],
             ["--mount", f"type=volume,source={vol},target=/data,readonly"]]
    for flags in cases:
        proc = docker("run", "--rm", *flags, busybox_image, "touch", "/data/x", check=False)
        assert proc.returncode != 0 and "Read-only file system" in proc.stderr, flags
    assert not (host_dir / "x").exists()
    docker("volume", "rm", vol)


def test_tmpfs_is_empty_at_each_start_and_sized(docker: Docker, busybox_image: str) -> None:
    name = unique()
    docker("create", "--name", name, "--tmpfs", "/t1:size=2m,mode=1770",
           "--mount", "type=tmpfs,target=/t2,tmpfs-size=3145728,tmpfs-mode=0700",
           busybox_image, "sh", "-c",
           "ls -A /t1 /t2; touch /t1/x /t2/y; df -k /t1 /t2 | tail -2; stat -c %a /t1 /t2")
    try:
        for _ in range(2):
            docker("start", name)
            assert docker("wait", name).stdout.strip() == "0"
        # Both runs' output: each listed empty tmpfs directories before writing to them.
        out = docker("logs", name).stdout.splitlines()
        assert out.count("/t1:") == 2 and "x" not in out and "y" not in out, out
        sizes = [line.split()[1] for line in out if line.startswith("tmpfs")]
        assert sizes == ["2048", "3072"] * 2
        # The first run's modes are the ones asked for; on later runs runc gives a tmpfs the
        # mode of the directory under it (0755), exactly as with Docker 20.10.
        assert [line for line in out if line.isdigit()][:2] == ["1770", "700"]
        mounts = inspect(docker, "container", name)["Mounts"]
        assert {"Type": "tmpfs", "Source": "", "Destination": "/t2", "Mode": "", "RW": True,
                "Propagation": ""} in mounts
    finally:
        docker("rm", name)


def test_volume_rm_in_use_is_409(minke_daemon: Daemon, docker: Docker,
                                 busybox_image: str) -> None:
    import docker as docker_py

    vol, name = unique("vol"), unique()
    cid = docker("create", "--name", name, "-v", f"{vol}:/data", busybox_image,
                 "true").stdout.strip()
    proc = docker("volume", "rm", vol, check=False)
    assert proc.returncode == 1
    assert f"remove {vol}: volume is in use - [{cid}]" in proc.stderr
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    try:
        with pytest.raises(docker_py.errors.APIError) as err:
            client.remove_volume(vol, force=True)
        assert err.value.status_code == 409
    finally:
        client.close()
    docker("rm", name)
    docker("volume", "rm", vol)


def test_volumes_from_sees_the_same_data(docker: Docker, busybox_image: str,
                                         host_dir: Path) -> None:
    src = unique()
    docker("run", "--name", src, "-v", "/shared", "-v", f"{host_dir}:/bind",
           busybox_image, "sh", "-c", "echo one > /shared/f; echo two > /bind/g")
    try:
        out = docker("run", "--rm", "--volumes-from", src, busybox_image, "sh", "-c",
                     "cat /shared/f /bind/g; echo more >> /shared/f").stdout
        assert out == "one\ntwo\n"
        proc = docker("run", "--rm", "--volumes-from", f"{src}:ro", busybox_image,
                      "sh", "-c", "cat /shared/f; touch /shared/z", check=False)
        assert proc.stdout == "one\nmore\n" and "Read-only file system" in proc.stderr
    finally:
        anon = [m["Name"] for m in inspect(docker, "container", src)["Mounts"]
                if m["Type"] == "volume"]
        docker("rm", "-v", src)
    assert not set(anon) & volume_names(docker)


def test_anonymous_volumes_removed_with_rm_v_and_rm(docker: Docker, app_image: str) -> None:
    kept, removed = unique(), unique()
    for name in (kept, removed):
        docker("create", "--name", name, "-v", "/extra", app_image, "true")
    anon = {name: {m["Name"] for m in inspect(docker, "container", name)["Mounts"]}
            for name in (kept, removed)}
    assert all(len(names) == 2 for names in anon.values())  # /extra and the image's VOLUME
    docker("rm", kept)
    docker("rm", "-v", removed)
    names = volume_names(docker)
    assert anon[kept] <= names and not anon[removed] & names
    docker("volume", "rm", *anon[kept])
    named = unique("vol")
    before = volume_names(docker)
    docker("run", "--rm", "-v", f"{named}:/n", "-v", "/anon", app_image, "true")
    assert volume_names(docker) - before == {named}  # --rm: anonymous gone, named kept
    docker("volume", "rm", named)


def test_missing_bind_source_created_for_v_refused_for_mount(docker: Docker, busybox_image: str,
                                                              host_dir: Path) -> None:
    missing = host_dir / "made" / "by-v"
    docker("run", "--rm", "-v", f"{missing}:/x", busybox_image, "touch", "/x/ok")
    assert (missing / "ok").exists()
    absent = host_dir / "absent"
    proc = docker("run", "--rm", "--mount", f"type=bind,source={absent},target=/x",
                  busybox_image, "true", check=False)
    assert proc.returncode == 125
    assert (f'invalid mount config for type "bind": bind source path does not exist: {absent}'
            in proc.stderr)
    assert not absent.exists()


@pytest.mark.parametrize("mode,visible", [("rshared", True), ("rslave", True),
                                          ("rprivate", False)])
def test_bind_propagation(docker: Docker, busybox_image: str, host_dir: Path, mode: str,
                          visible: bool) -> None:
    source = host_dir / "src"
    source.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "mkvol", str(source)], check=True)
    subprocess.run(["mount", "--make-shared", str(source)], check=True)
    name = unique()
    docker("run", "-d", "--name", name, "-v", f"{source}:/p:{mode}", busybox_image,
           "sleep", "60")
    try:
        (source / "sub").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "mkvolsub",
                        str(source / "sub")], check=True)
        (source / "sub" / "marker").write_text("late mount\n")
        proc = docker("exec", name, "cat", "/p/sub/marker", check=False)
        assert (proc.stdout == "late mount\n") == visible, proc
        mounts = inspect(docker, "container", name)["Mounts"]
        assert mounts[0]["Propagation"] == mode
    finally:
        docker("rm", "-f", name)
        subprocess.run(["umount", "-R", str(source)], check=False)


def test_shared_propagation_needs_a_shared_source(docker: Docker, busybox_image: str,
                                                  host_dir: Path) -> None:
    proc = docker("run", "--rm", "-v", f"{host_dir}:/p:rshared", busybox_image, "true",
                  check=False)
    assert proc.returncode != 0 and "is not a shared mount" in proc.stderr


def test_local_driver_tmpfs_volume(docker: Docker, busybox_image: str) -> None:
    vol = unique("vol")
    docker("volume", "create", "--label", "k=v", "-o", "type=tmpfs", "-o", "device=tmpfs",
           "-o", "o=size=1m", vol)
    doc = inspect(docker, "volume", vol)
    assert doc["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert doc["Labels"] == {"k": "v"} and doc["Driver"] == "local"
    out = docker("run", "--rm", "-v", f"{vol}:/v", busybox_image, "sh", "-c",
                 "df -k /v | tail -1; echo x > /v/f").stdout
    assert out.split()[0] == "tmpfs" and out.split()[1] == "1024"
    assert not Path(doc["Mountpoint"]).joinpath("f").exists()  # unmounted after last user
    docker("volume", "rm", vol)


def test_local_driver_bind_volume(docker: Docker, busybox_image: str, host_dir: Path) -> None:
    vol = unique("vol")
    docker("volume", "create", "-o", "type=none", "-o", "o=bind", "-o",
           f"device={host_dir}", vol)
    docker("run", "--rm", "-v", f"{vol}:/v", busybox_image, "sh", "-c", "echo via > /v/f")
    assert (host_dir / "f").read_text() == "via\n"
    docker("volume", "rm", vol)


def test_volume_ls_filters_and_prune(docker: Docker, busybox_image: str) -> None:
    used, dangling = unique("vol"), unique("vol")
    docker("volume", "create", "--label", "team=a", used)
    docker("volume", "create", "--label", "team=b", dangling)
    name = unique()
    docker("create", "--name", name, "-v", f"{used}:/d", busybox_image, "true")
    try:
        ls = lambda *f: set(docker("volume", "ls", "-q", *f).stdout.split())  # noqa: E731
        assert {used, dangling} & ls("-f", "dangling=true") == {dangling}
        assert {used, dangling} & ls("-f", "dangling=false") == {used}
        assert ls("-f", "label=team=a") == {used}
        assert ls("-f", f"name={dangling[4:]}") == {dangling}
        assert used in ls("-f", "driver=local")
        out = docker("volume", "prune", "-f", "--filter", "label=team").stdout
        assert dangling in out and used not in out
        assert used in volume_names(docker) and dangling not in volume_names(docker)
    finally:
        docker("rm", name)
        docker("volume", "rm", used)


@pytest.mark.parametrize("flags,message", [
    (["-v", "a/b:/x"], '"a/b" includes invalid characters for a local volume name'),
    (["--mount", "type=volume,source=v1,target=/x,volume-driver=nosuch"],
     'error looking up volume plugin nosuch: plugin "nosuch" not found'),
    (["-v", "/tmp:rel"], "invalid mount path: 'rel' mount path must be absolute"),
    (["--mount", "type=bind,source=/tmp,target=rel"],
     "invalid mount path: 'rel' mount path must be absolute"),
    (["--mount", "type=bind,source=tmp,target=/x"],
     "invalid mount path: 'tmp' mount path must be absolute"),
    (["-v", "/tmp:/x", "--mount", "type=tmpfs,target=/x"], "Duplicate mount point: /x"),
    (["-v", "/tmp:/x", "--tmpfs", "/x"], "Duplicate mount point: /x"),
    (["-v", "/tmp:/x:bogus"], "invalid mode: bogus"),
])
def test_bad_input_creates_nothing(docker: Docker, busybox_image: str, flags: list[str],
                                   message: str) -> None:
    fresh = unique("vol")
    name = unique()
    before = volume_names(docker)
    proc = docker("create", "--name", name, "-v", f"{fresh}:/fresh", *flags, busybox_image,
                  "true", check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert volume_names(docker) == before
    assert docker("ps", "-aq", "--filter", f"name={name}").stdout == ""


def test_volume_create_bad_input(docker: Docker) -> None:
    proc = docker("volume", "create", "a/b", check=False)
    assert proc.returncode == 1 and "includes invalid characters" in proc.stderr
    proc = docker("volume", "create", "-d", "nosuch", unique("vol"), check=False)
    assert 'plugin "nosuch" not found' in proc.stderr
    proc = docker("volume", "create", "-o", "foo=bar", unique("vol"), check=False)
    assert 'invalid option: "foo"' in proc.stderr
    assert "a/b" not in volume_names(docker)


def test_volume_made_by_a_failed_create_is_removed(minke_daemon: Daemon, docker: Docker,
                                                   busybox_image: str) -> None:
    """A later step of create fails (joining a missing container's network): the volume
    this create made on first use goes again, one that existed before stays."""
    import docker as docker_py

    fresh, existing = unique("vol"), unique("vol")
    docker("volume", "create", existing)
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    try:
        with pytest.raises(docker_py.errors.APIError):
            client.create_container(busybox_image, ["true"], host_config=client.create_host_config(
                binds=[f"{fresh}:/a", f"{existing}:/b"], network_mode=f"container:{unique()}"))
    finally:
        client.close()
    names = volume_names(docker)
    assert fresh not in names and existing in names
    docker("volume", "rm", existing)
