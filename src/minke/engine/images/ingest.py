"""Staging of the layers and blobs of one import or load, committed together or not at all.

A ``Staging`` extracts layers into the snapshotter's staging directories and writes blobs
through content-store writers, none of which is visible yet. ``commit`` then, under the
service's lock, renames blobs and layers into place and runs the database writes; if any
step fails it removes what it had published, so a failed import, load or malicious layer
leaves the store exactly as it was: no half image, no orphan layer, no moved tag.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from minke.engine.content import LocalContentStore, LocalWriter
from minke.engine.images._streams import HashingReader, decompressed
from minke.engine.images.extract import extract_layer
from minke.engine.snapshots import OverlaySnapshotter, chain_id
from minke.errors import InvalidParameter

READ_BUFFER = 1 << 20


class Staging:
    """Layers and blobs waiting for one commit. ``stage_layer`` and ``stage_blob`` may run
    in several worker threads at once (a pull extracts layers in parallel); ``commit``
    publishes layers parents first, whatever order they were staged in."""

    def __init__(
        self, content: LocalContentStore, snapshots: OverlaySnapshotter, lock: threading.Lock
    ) -> None:
        self._content = content
        self._snapshots = snapshots
        self._lock = lock
        self._writers: list[LocalWriter] = []
        self._layers: dict[str, tuple[Path, dict[str, Any]]] = {}  # chain id → (dir, doc)
        self._mutex = threading.Lock()  # guards the two collections above across threads

    @property
    def layer_docs(self) -> list[dict[str, Any]]:
        return [doc for _, doc in self._layers.values()]

    def has_layer(self, chain_id: str, diff_id: str) -> bool:
        """Whether the layer is staged here or committed with its blob."""
        return chain_id in self._layers or (
            self._snapshots.has_layer(chain_id) and self._content.exists(diff_id)
        )

    def stage_layer(
        self, stream: BinaryIO, parent: str | None, expected: str | None = None
    ) -> dict[str, Any]:
        """Extract the (possibly compressed) layer ``stream`` and keep its uncompressed tar
        as a blob; returns the layer document. ``expected`` is the diff id to verify."""
        writer = self._content.writer()
        with self._mutex:
            self._writers.append(writer)
        staged = self._snapshots.begin_layer()
        try:
            hashing = HashingReader(decompressed(stream), tee=writer)
            reader = io.BufferedReader(hashing, READ_BUFFER)
            size = extract_layer(reader, staged)  # type: ignore[arg-type]
            while reader.read(READ_BUFFER):
                pass  # the digest covers the bytes after the end-of-archive blocks too
        except BaseException:
            self._snapshots.discard(staged)
            raise
        diff_id = hashing.digest  # the writer's: each byte is hashed once
        if expected is not None and diff_id != expected:
            self._snapshots.discard(staged)
            raise InvalidParameter(f"layer digest mismatch: expected {expected}, got {diff_id}")
        try:
            writer.sync()  # here, in this worker thread, in parallel with other layers
        except BaseException:
            self._snapshots.discard(staged)
            raise
        chain = chain_id(parent, diff_id)
        doc = {
            "chain_id": chain,
            "diff_id": diff_id,
            "parent": parent or "",
            "size": size,
            "tar_size": hashing.size,
        }
        with self._mutex:
            duplicate = chain in self._layers
            if not duplicate:
                self._layers[chain] = (staged, doc)
        if duplicate:
            self._snapshots.discard(staged)
        return doc

    def stage_blob(self, data: bytes) -> str:
        writer = self._content.writer()
        with self._mutex:
            self._writers.append(writer)
        writer.write(data)
        return writer.digest

    def commit(self, write_records: Callable[[], None]) -> None:
        """Publish blobs and layers, then run ``write_records`` (the database
        transaction); on failure undo what was published and re-raise."""
        blobs: list[str] = []
        layers: list[str] = []
        with self._lock:
            try:
                for writer in self._writers:
                    writer.commit()
                    if writer.created:
                        blobs.append(writer.digest)
                for chain, (staged, doc) in self._parents_first():
                    if self._snapshots.commit_layer(staged, chain, doc["parent"] or None):
                        layers.append(chain)
                write_records()
            except BaseException:
                for chain in reversed(layers):
                    self._snapshots.remove_layer(chain)
                for digest in blobs:
                    self._content.delete(digest)
                raise
            finally:
                self.discard()

    def _parents_first(self) -> list[tuple[str, tuple[Path, dict[str, Any]]]]:
        """The staged layers ordered so that each parent is in place before its child."""
        def depth(chain: str) -> int:
            n = 0
            while chain in self._layers and n <= len(self._layers):
                chain, n = self._layers[chain][1]["parent"], n + 1
            return n

        return sorted(self._layers.items(), key=lambda item: depth(item[0]))

    def discard(self) -> None:
        """Drop everything not committed; safe to call more than once."""
        for writer in self._writers:
            writer.abort()
        for staged, _ in self._layers.values():
            self._snapshots.discard(staged)
        self._writers.clear()
        self._layers.clear()
