"""The whole-archive check of ``PUT /containers/{id}/archive``: Docker's name and link rules,
and the members that would fail against the tree as it is (it only reads)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from minke.engine.containers.untar import Destination, check, hardlink_path, member_path
from minke.errors import InvalidParameter

DEST = Destination(["dest"])


def test_member_names_as_docker_cleans_them() -> None:
    assert member_path("a/b", DEST) == "a/b"
    assert member_path("/abs/x", DEST) == "abs/x"  # absolute: relative to the destination
    assert member_path("//x/../y", DEST) == "y"
    assert member_path("/../x", DEST) == "x"
    assert member_path("a/../inside", DEST) == "inside"
    assert member_path("./", DEST) == "." and member_path("/", DEST) == "."
    for name in ("..", "../x", "a/../../x"):
        with pytest.raises(InvalidParameter, match='is outside of "/dest"'):
            member_path(name, DEST)


def test_hardlink_targets_are_joined_to_the_destination() -> None:
    assert hardlink_path("/etc/passwd", DEST) == "etc/passwd"
    assert hardlink_path("../dest/a", DEST) == "a"
    assert hardlink_path("x", Destination([])) == "x"
    for target in ("../etc/passwd", "/", "."):
        with pytest.raises(InvalidParameter, match="invalid hardlink"):
            hardlink_path(target, DEST)


def _tar(*members: tuple[str, str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif kind == "file":
                info.size = len(extra)
                archive.addfile(info, io.BytesIO(extra.encode()))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = extra
                archive.addfile(info)
    buf.seek(0)
    return buf


@pytest.fixture
def rootfd(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "dest" / "sub").mkdir(parents=True)
    (tmp_path / "dest" / "file").write_text("f")
    (tmp_path / "dest" / "link").symlink_to("/elsewhere")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_a_good_archive_passes(rootfd: int) -> None:
    archive = _tar(("new", "dir", ""), ("new/f", "file", "x"), ("sub/g", "file", "y"),
                   ("h", "lnk", "/file"), ("h2", "lnk", "new/f"), ("abs", "sym", "/"),
                   ("abs/etc/x", "file", "through a symlink: resolved when extracting"),
                   ("link/y", "file", "through the container's symlink"),
                   ("file", "dir", ""), ("file/now-a-dir", "file", "z"))
    check(archive, rootfd, DEST, no_overwrite=False)
    assert archive.tell() == 0


@pytest.mark.parametrize(("members", "message"), [
    ((("ok", "file", "x"), ("../x", "file", "x")), '"../x" is outside of "/dest"'),
    ((("esc", "sym", "../../.."),), 'invalid symlink "/dest/esc" -> "../../.."'),
    ((("esc", "sym", "../other"),), 'invalid symlink "/dest/esc" -> "../other"'),
    ((("h", "lnk", "../etc/passwd"),), 'invalid hardlink "/etc/passwd"'),
    ((("h", "lnk", "/missing"),), 'hardlink target "/missing" not found'),
    ((("h", "lnk", "sub"),), "hardlink to a directory"),
    ((("file/x", "file", "x"),), '"/dest/file" is not a directory'),
    ((("f", "file", "x"), ("f/x", "file", "x")), '"/dest/f" is not a directory'),
])
def test_refusals(rootfd: int, members: tuple[tuple[str, str, str], ...], message: str) -> None:
    with pytest.raises(InvalidParameter, match="nothing was extracted") as info:
        check(_tar(*members), rootfd, DEST, no_overwrite=False)
    assert message in str(info.value)


def test_no_overwrite_dir_non_dir(rootfd: int) -> None:
    with pytest.raises(InvalidParameter, match='cannot overwrite directory "/dest/sub"'):
        check(_tar(("sub", "file", "x")), rootfd, DEST, no_overwrite=True)
    with pytest.raises(InvalidParameter, match='cannot overwrite non-directory "/dest/file"'):
        check(_tar(("file", "dir", "")), rootfd, DEST, no_overwrite=True)
    with pytest.raises(InvalidParameter, match='cannot overwrite non-directory "/dest/n"'):
        check(_tar(("n", "file", "x"), ("n", "dir", "")), rootfd, DEST, no_overwrite=True)
    check(_tar(("sub", "dir", ""), ("file", "file", "x")), rootfd, DEST, no_overwrite=True)


def test_not_a_tar_and_a_truncated_one(rootfd: int) -> None:
    with pytest.raises(InvalidParameter, match="invalid tar"):
        check(io.BytesIO(b"no tar here" * 100), rootfd, DEST, no_overwrite=False)
    data = _tar(("a", "file", "x" * 5000)).getvalue()
    with pytest.raises(InvalidParameter, match="unexpected end of data"):
        check(io.BytesIO(data[:2048]), rootfd, DEST, no_overwrite=False)
