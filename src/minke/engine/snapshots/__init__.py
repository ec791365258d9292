"""Layer snapshots on overlayfs: committed layers by chain id, container snapshots by key."""

from minke.engine.snapshots.overlay import OverlaySnapshotter
from minke.engine.snapshots.snapshotter import Snapshotter, chain_id, chain_ids

__all__ = ["OverlaySnapshotter", "Snapshotter", "chain_id", "chain_ids"]
