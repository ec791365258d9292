"""Pure rules of the file endpoints: Go file modes, cp path parsing, resolution inside a
root that never leaves it (on a tmp directory: openat2 needs no privilege), tar writing
from descriptors, and the init-layer filter of ``docker diff``."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from minke.engine.containers import archive, changes
from minke.engine.containers.init import INIT_PATH, add_init
from minke.errors import NotFound


def test_go_file_mode() -> None:
    assert archive.go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert archive.go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert archive.go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert archive.go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600


def test_parse_path() -> None:
    assert archive.parse_path("/etc/passwd") == (["etc", "passwd"], False, "passwd")
    assert archive.parse_path("/etc/") == (["etc"], True, "etc")
    assert archive.parse_path("/etc/.") == (["etc"], True, ".")
    assert archive.parse_path("/../../etc") == (["etc"], False, "etc")
    assert archive.parse_path("/") == ([], True, "/")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "hostname").write_text("inside\n")
    (r / "up").symlink_to("../../../../..")
    (r / "abs").symlink_to("/etc")
    (tmp_path / "outside.txt").write_text("host secret\n")
    return r


def _open(root: Path, path: str) -> archive.Target:
    fd = os.open(root, archive.O_PATH_DIR)
    try:
        return archive.open_target(fd, path, "c1")
    finally:
        os.close(fd)


def test_resolution_stays_inside(root: Path) -> None:
    with pytest.raises(NotFound, match="Could not find the file /up/outside.txt in container c1"):
        _open(root, "/up/outside.txt")
    target = _open(root, "/abs/hostname")
    try:
        assert os.readlink(f"/proc/self/fd/{target.parent}") == str(root / "etc")
    finally:
        target.close()
    target = _open(root, "/abs")
    try:
        assert stat.S_ISLNK(target.st.st_mode)  # the last element is not followed
        assert archive.path_stat(root, target, "/abs")["linkTarget"] == "/etc"
    finally:
        target.close()


def test_tar_of_a_followed_directory(root: Path) -> None:
    target = _open(root, "/abs/")
    buf = io.BytesIO()
    try:
        archive._write_tar(buf, target)
    finally:
        target.close()
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        assert tar.getnames() == ["abs", "abs/hostname"]
        assert tar.extractfile("abs/hostname").read() == b"inside\n"  # type: ignore[union-attr]


def test_diff_leaves_out_the_init_layer() -> None:
    found = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/hosts", "Kind": 1},
             {"Path": "/etc/resolv.conf", "Kind": 1}, {"Path": "/tmp", "Kind": 0},
             {"Path": "/tmp/x", "Kind": 1}, {"Path": "/sbin", "Kind": 0},
             {"Path": "/sbin/docker-init", "Kind": 1}]
    assert changes.without_init_layer(found) == [{"Path": "/tmp", "Kind": 0},
                                                 {"Path": "/tmp/x", "Kind": 1}]
    kept = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/passwd", "Kind": 0}]
    assert changes.without_init_layer(kept) == kept


def test_add_init() -> None:
    spec = {"mounts": [], "process": {"args": ["sleep", "1"]}}
    add_init(spec, "/usr/bin/tini-static")
    assert spec["process"]["args"] == [INIT_PATH, "--", "sleep", "1"]
    assert spec["mounts"] == [{"destination": INIT_PATH, "type": "bind",
                               "source": "/usr/bin/tini-static", "options": ["bind", "ro"]}]
