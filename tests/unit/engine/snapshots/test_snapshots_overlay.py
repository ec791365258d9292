from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from minke.engine.snapshots import OverlaySnapshotter, chain_ids
from minke.engine.snapshots.overlay import PAGE_SIZE
from minke.errors import Conflict, InvalidParameter, NotFound


def _diff(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def test_chain_ids_follow_the_oci_rule() -> None:
    a, b = _diff(1), _diff(2)
    chains = chain_ids([a, b])
    assert chains[0] == a
    assert chains[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([]) == []


def _stack(snap: OverlaySnapshotter, count: int) -> list[str]:
    chains = chain_ids([_diff(i) for i in range(count)])
    parent = None
    for chain in chains:
        staged = snap.begin_layer()
        (staged / "f").write_text(chain)
        assert snap.commit_layer(staged, chain, parent)
        parent = chain
    return chains


def test_layers_commit_once_and_mount_options_use_short_names(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path)
    chains = _stack(snap, 3)
    again = snap.begin_layer()
    assert not snap.commit_layer(again, chains[0], None)  # shared, not duplicated
    assert not again.exists()
    assert snap.layers() == sorted(chains)
    assert snap.layer_parent(chains[2]) == chains[1]
    snap.prepare("c1", chains[-1])
    options = snap.mount_options("c1")
    lower = options.split(",")[0].removeprefix("lowerdir=").split(":")
    assert len(lower) == 3 and all(p.startswith("l/") and len(p) == 28 for p in lower)
    # Top first: the first short name leads to the top layer's directory.
    assert (tmp_path / lower[0]).resolve() == snap.layer_path(chains[2]).resolve()
    assert snap.upper("c1").is_dir()
    with pytest.raises(Conflict):
        snap.prepare("c1", None)
    snap.remove("c1")
    with pytest.raises(NotFound):
        snap.upper("c1")


def test_many_layers_fit_one_page(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path)
    chains = _stack(snap, 120)
    snap.prepare("deep", chains[-1])
    assert len(snap.mount_options("deep")) < PAGE_SIZE


def test_no_layers_uses_the_empty_lower(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path)
    snap.prepare("scratch", None)
    assert snap.mount_options("scratch").startswith("lowerdir=empty,")
    with pytest.raises(NotFound):
        snap.prepare("x", _diff(9))
    with pytest.raises(InvalidParameter):
        snap.prepare("../evil", None)


def test_remove_layer_and_sweep(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path)
    chains = _stack(snap, 2)
    snap.remove_layer(chains[1])
    assert not snap.has_layer(chains[1])
    assert len(list((tmp_path / "l").iterdir())) == 1
    snap.sweep()
    assert snap.has_layer(chains[0])
