"""Which compressed blobs in which repositories hold a layer: dockerd's
``v2metadata-by-diffid``, kept as one small JSON file per diff id under
``<image root>/distribution/``.

Pull records, for each layer, the blob digest, media type and size it came as and where
from; push reads it to skip layers a registry already has (``HEAD``) or to mount them from
another repository of the same registry instead of compressing and uploading again, and
records what it pushed. The files are hints: a missing or stale one costs a re-upload,
never a wrong image, as the registry verifies every digest.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

MAX_ENTRIES = 20  # per layer; the oldest are dropped first


class DistributionMetadata:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, diff_id: str) -> Path:
        return self.root / diff_id.replace(":", "-")

    def get(self, diff_id: str) -> list[dict[str, Any]]:
        """Entries ``{"digest", "mediaType", "size", "registry", "repository"}``, newest first."""
        try:
            data = json.loads(self._path(diff_id).read_text())
        except (OSError, ValueError):
            return []
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def add(self, diff_id: str, *, digest: str, media_type: str, size: int, registry: str,
            repository: str) -> None:
        entry = {"digest": digest, "mediaType": media_type, "size": size,
                 "registry": registry, "repository": repository}
        with self._lock:
            entries = [e for e in self.get(diff_id)
                       if (e.get("digest"), e.get("registry"), e.get("repository"))
                       != (digest, registry, repository)]
            entries.insert(0, entry)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            with os.fdopen(fd, "w") as f:
                json.dump(entries[:MAX_ENTRIES], f)
            os.replace(tmp, self._path(diff_id))

    def remove(self, diff_id: str) -> None:
        self._path(diff_id).unlink(missing_ok=True)
