"""A ``volatile`` overlay mount (an auto-removed container's root filesystem): mounted with
overlayfs' ``volatile`` option, its files readable and writable as any; and the snapshot
mounts again afterwards, volatile or not, although the kernel's marker of a volatile mount
refuses any later mount by itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minke.engine.snapshots import OverlaySnapshotter, chain_ids

pytestmark = pytest.mark.integration


def _volatile(target: Path) -> bool:
    """Whether the overlay mounted at ``target`` is volatile, per its superblock options in
    /proc/self/mountinfo ("volatile", or "fsync=volatile" as newer kernels show it)."""
    options = _overlay_options(target)
    return "volatile" in options or "fsync=volatile" in options


def _overlay_options(target: Path) -> list[str]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        after = fields[fields.index("-") + 1:]
        if fields[4] == str(target) and after[0] == "overlay":
            return after[2].split(",")
    raise AssertionError(f"no overlay mounted at {target}")


@pytest.fixture
def snapshots(tmp_path: Path) -> OverlaySnapshotter:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    snap = OverlaySnapshotter(tmp_path / "overlay")
    chain = chain_ids(["sha256:" + "1" * 64])[0]
    staged = snap.begin_layer()
    (staged / "etc").mkdir()
    (staged / "etc" / "os-release").write_text("from the image\n")
    snap.commit_layer(staged, chain, None)
    snap.prepare("c1", chain)
    return snap


def test_a_volatile_mount_works_and_the_snapshot_mounts_again(snapshots: OverlaySnapshotter,
                                                              tmp_path: Path) -> None:
    target = tmp_path / "rootfs"
    snapshots.mount("c1", target, volatile=True)
    try:
        assert _volatile(target)
        assert (target / "etc" / "os-release").read_text() == "from the image\n"
        (target / "etc" / "hostname").write_text("c1\n")
    finally:
        snapshots.unmount(target)
    assert (snapshots.upper("c1") / "etc" / "hostname").read_text() == "c1\n"
    for volatile in (False, True, False):  # each after a clean unmount of the one before
        snapshots.mount("c1", target, volatile=volatile)
        try:
            assert _volatile(target) == volatile
            assert (target / "etc" / "hostname").read_text() == "c1\n"
        finally:
            snapshots.unmount(target)
