"""The snapshotter's vocabulary: layers named by chain id, and container snapshots by key.

Shaped after containerd's ``core/snapshots/snapshotter.go``, narrowed to what minke needs:

- a **layer** is a committed, read-only directory holding one image layer's files, named
  by its *chain id* (the digest of the layer together with everything beneath it), so that
  every image with the same stack of layers shares one directory;
- a **snapshot** is a container's writable view, named by a *key* (the container id): an
  upper and a work directory, over the chain of layers of its *parent* chain id.

Lifecycle of a layer: ``begin_layer`` (an empty staging directory the caller fills) →
``commit_layer`` (atomic rename into place) → ``remove_layer``. A staged layer that is not
committed is dropped with ``discard``.

Lifecycle of a snapshot: ``prepare(key, parent)`` → ``mount(key, target)`` → the container
runs → ``unmount(target)`` → ``remove(key)``. The snapshotter knows nothing of tar files or
images; the image service extracts into staged directories and keeps the records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


def chain_id(parent: str | None, diff_id: str) -> str:
    """The chain id of layer ``diff_id`` over the layer whose chain id is ``parent``."""
    if not parent:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The OCI chain ids of a stack of layers, bottom first:
    ``ChainID(L0) = DiffID(L0)``, ``ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))``."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else None, diff_id))
    return out


class Snapshotter(Protocol):
    """Layers and container snapshots on one host; see the module docstring for the model.

    Errors: NotFound for an unknown layer or key, Conflict for a key prepared twice,
    InvalidParameter for a malformed key, Unavailable when the kernel cannot mount.
    """

    def begin_layer(self) -> Path:
        """A new, empty staging directory for a layer's files, on the same filesystem."""
        ...

    def commit_layer(self, staged: Path, chain_id: str, parent: str | None) -> bool:
        """Move ``staged`` into place as layer ``chain_id`` over ``parent``. Returns False
        (and discards ``staged``) when that layer exists already."""
        ...

    def discard(self, staged: Path) -> None: ...

    def has_layer(self, chain_id: str) -> bool: ...

    def layer_path(self, chain_id: str) -> Path:
        """The directory holding the files of layer ``chain_id`` (read-only by contract)."""
        ...

    def layers(self) -> list[str]:
        """Chain ids of every committed layer on disk."""
        ...

    def remove_layer(self, chain_id: str) -> None: ...

    def prepare(self, key: str, parent_chain_id: str | None) -> None: ...

    def mount(self, key: str, target: Path, *, volatile: bool = False) -> None:
        """Mount snapshot ``key`` at ``target``; ``volatile``: its writes need not survive a
        crash (an auto-removed container's), so the unmount need not sync them."""
        ...

    def unmount(self, target: Path) -> None: ...

    def upper(self, key: str) -> Path: ...

    def remove(self, key: str) -> None: ...

    def snapshots(self) -> dict[str, str | None]:
        """Every prepared snapshot key and the chain id of its parent layer."""
        ...
