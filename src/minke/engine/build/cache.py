"""The build cache: which image a step already produced from a given parent.

A step's key is the sha256 of its parent image id and a canonical JSON of everything the
step's result depends on: the instruction as expanded (build args and environment
included), the image config it runs with, and for COPY/ADD the content checksums of the
files it uses (after ``.dockerignore``) or the id of the image they come from. The key is
kept in the image record of the step's image (``build_cache_key``), so the cache lives and
dies with the intermediate images, as dockerd's classic builder cache does: ``docker rmi``
of a build's image prunes its untagged parents and with them their cache entries.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minke.engine.images import ImageService


def step_key(parent: str | None, parts: dict[str, Any]) -> str:
    doc = json.dumps({"parent": parent or "", **parts}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(doc.encode()).hexdigest()


class BuildCache:
    """An index of (parent, key) → image id over the image records, read once (the
    builder keeps one for all its builds) and kept up to date with the images builds
    commit; an entry whose image was removed since is dropped when looked up."""

    def __init__(self, images: ImageService) -> None:
        self._images = images
        self._index: dict[tuple[str, str], str] = {}
        for doc in images.records.images():
            key = doc.get("build_cache_key")
            if key:
                self._index[(doc.get("parent") or "", key)] = doc["id"]

    def lookup(self, parent: str | None, key: str) -> str | None:
        image_id = self._index.get((parent or "", key))
        if image_id is None:
            return None
        if self._images.records.image(image_id) is None:  # removed since the index was read
            del self._index[(parent or "", key)]
            return None
        return image_id

    def add(self, parent: str | None, key: str, image_id: str) -> None:
        self._index[(parent or "", key)] = image_id
