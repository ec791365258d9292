from __future__ import annotations

import os
from pathlib import Path

import pytest

from minke.engine.containers.rootfs import resolve_in_root, resolve_user
from minke.errors import InvalidParameter


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"
    )
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1001:\nextra:x:2000:app,other\n")
    return tmp_path


def test_absolute_symlink_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/shadow", tmp_path / "etc/passwd")
    assert resolve_in_root(tmp_path, "/etc/passwd") == tmp_path / "etc/shadow"


def test_dotdot_cannot_climb(tmp_path: Path) -> None:
    os.symlink("../../../../etc", tmp_path / "up")
    assert resolve_in_root(tmp_path, "/up/passwd") == tmp_path / "etc/passwd"
    assert resolve_in_root(tmp_path, "/../../x") == tmp_path / "x"


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(InvalidParameter, match="symbolic links"):
        resolve_in_root(tmp_path, "/a")


def test_user_by_name_gets_groups(root: Path) -> None:
    u = resolve_user(root, "app")
    assert (u.uid, u.gid, u.additional_gids, u.home) == (1000, 1001, [2000], "/home/app")


def test_numeric_user_and_group(root: Path) -> None:
    u = resolve_user(root, "1000:2000")
    assert (u.uid, u.gid) == (1000, 2000)
    u = resolve_user(root, "4242")
    assert (u.uid, u.gid) == (4242, 0)


def test_named_group(root: Path) -> None:
    assert resolve_user(root, "root:extra").gid == 2000


def test_unknown_user_and_group(root: Path) -> None:
    with pytest.raises(InvalidParameter, match="unable to find user nosuch"):
        resolve_user(root, "nosuch")
    with pytest.raises(InvalidParameter, match="unable to find group nogroup"):
        resolve_user(root, "app:nogroup")


def test_default_is_root(root: Path) -> None:
    u = resolve_user(root, "")
    assert (u.uid, u.gid, u.home) == (0, 0, "/root")
