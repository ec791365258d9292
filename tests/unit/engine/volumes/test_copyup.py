"""Copy-up of image content into a volume: attributes kept, links never followed out."""

from __future__ import annotations

import os
from pathlib import Path

from minke.engine.volumes import copyup


def test_copy_keeps_modes_times_xattrs_and_links(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    app = rootfs / "srv" / "app"
    (app / "sub").mkdir(parents=True)
    (app / "f").write_text("content")
    os.chmod(app / "f", 0o640)
    os.chmod(app, 0o750)
    os.setxattr(app / "f", "user.origin", b"image")
    (app / "link").symlink_to("/etc/shadow")
    os.link(app / "f", app / "sub" / "hard")
    os.utime(app / "f", (1_000_000_000, 1_000_000_000))
    data = tmp_path / "data"
    data.mkdir()
    source = copyup.source_dir(rootfs, "/srv/app")
    assert source == app and copyup.is_empty(data)
    copyup.copy_up(source, data)
    assert (data / "f").read_text() == "content"
    assert (data / "f").stat().st_mode & 0o7777 == 0o640
    assert data.stat().st_mode & 0o7777 == 0o750
    assert (data / "f").stat().st_mtime == 1_000_000_000
    assert os.getxattr(data / "f", "user.origin") == b"image"
    assert os.readlink(data / "link") == "/etc/shadow"  # copied as a link, not followed
    assert (data / "f").stat().st_ino == (data / "sub" / "hard").stat().st_ino
    copyup.clear(data)
    assert copyup.is_empty(data)


def test_source_resolved_inside_the_root(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    (rootfs / "escape").symlink_to(str(outside))  # absolute: means rootfs/<outside>
    assert copyup.source_dir(rootfs, "/escape") is None
    (rootfs / "up").symlink_to("../../outside")
    assert copyup.source_dir(rootfs, "/up") is None
    (rootfs / "real").mkdir()
    (rootfs / "alias").symlink_to("/real")
    assert copyup.source_dir(rootfs, "/alias") == rootfs / "real"
