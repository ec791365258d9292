"""``fsutil.discard``: a tree leaves its place at once and is deleted in the background."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from minke.engine.fsutil import discard


def test_tree_leaves_at_once_and_goes_in_the_background(tmp_path: Path) -> None:
    tree = tmp_path / "containers" / "abc"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "deep" / "er" / "file").write_text("x" * 1000)
    trash = tmp_path / "trash"
    discard(tree, trash)
    assert not tree.exists()
    assert (tmp_path / "containers").is_dir()  # only the tree itself went
    deadline = time.monotonic() + 10
    while any(trash.iterdir()):
        assert time.monotonic() < deadline, list(trash.iterdir())
        time.sleep(0.01)


def test_missing_path_is_no_error(tmp_path: Path) -> None:
    discard(tmp_path / "never", tmp_path / "trash")
    assert list((tmp_path / "trash").iterdir()) == []


def test_same_name_twice(tmp_path: Path) -> None:
    for _ in range(2):
        (tmp_path / "c" / "x").mkdir(parents=True)
        discard(tmp_path / "c" / "x", tmp_path / "trash")
        assert not (tmp_path / "c" / "x").exists()


def test_one_thread_deletes_every_tree(tmp_path: Path) -> None:
    """Many discards at once (a ``compose down``) start no thread each: one deletes them all,
    in turn."""
    trash = tmp_path / "trash"
    trees = [tmp_path / f"c{i}" for i in range(20)]
    for tree in trees:
        tree.mkdir()
        for j in range(200):
            (tree / f"f{j}").write_bytes(b"")
    for tree in trees:
        discard(tree, trash)
    assert len([t for t in threading.enumerate() if t.name == "discard"]) == 1
    deadline = time.monotonic() + 10
    while any(trash.iterdir()):
        assert time.monotonic() < deadline, list(trash.iterdir())
        time.sleep(0.01)
