"""The local blob store: ``<root>/blobs/sha256/<hex>``, written through ``<root>/ingest/``.

Crash safety follows containerd's ``plugins/content/local/writer.go``: write to a temporary
file while hashing, check size and digest, fsync the file, rename it into place, fsync the
directory. A crash leaves at worst a stray file under ``ingest/``, removed at start-up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from minke.engine.content.store import ContentStore, Descriptor, Writer, check_digest
from minke.engine.fsutil import fsync_dir
from minke.errors import InvalidParameter, NotFound

CHUNK = 1 << 20  # bytes read per step when ingesting from a file object


class LocalWriter(Writer):
    """An ingest into a temporary file of the store; see ``Writer``."""

    def __init__(self, store: LocalContentStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.root / "ingest", prefix="blob-")
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(name)
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False
        self._synced = False  # the bytes written so far are on disk (``sync``)
        self.created = False  # set by commit: False when the blob was already present

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self._size += len(data)
        self._synced = False
        return self._file.write(data)

    def sync(self) -> None:
        """Flush and fsync now rather than in ``commit``: a caller staging several blobs
        in parallel threads syncs each in its own thread, leaving ``commit`` (which runs
        under the image lock) only the renames."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._synced = True

    def commit(self, expected: str | None = None, size: int | None = None) -> Descriptor:
        digest = self.digest
        try:
            if expected is not None and expected != digest:
                raise InvalidParameter(f"digest mismatch: expected {expected}, got {digest}")
            if size is not None and size != self._size:
                raise InvalidParameter(
                    f"size mismatch for {digest}: expected {size}, got {self._size}"
                )
            if not self._synced:
                self.sync()
            self._file.close()
            final = self._store.path_for(digest)
            # A blob already present is the same bytes by definition: keep the old file.
            if final.exists():
                self._tmp.unlink()
            else:
                os.replace(self._tmp, final)
                fsync_dir(final.parent)
                self.created = True
        except BaseException:
            self.abort()
            raise
        self._done = True
        return Descriptor(digest, self._size)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class LocalContentStore(ContentStore):
    """Blobs as files under ``root``. Thread-safe: every write goes through its own temp file
    and an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        ingest = root / "ingest"
        # Leftovers of ingests cut short by a crash: never committed, so never referenced.
        shutil.rmtree(ingest, ignore_errors=True)
        ingest.mkdir()

    def path_for(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / check_digest(digest).removeprefix("sha256:")

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def path(self, digest: str) -> Path:
        path = self.path_for(digest)
        if not path.is_file():
            raise NotFound(f"content {digest}: not found")
        return path

    def info(self, digest: str) -> Descriptor:
        return Descriptor(digest, self.path(digest).stat().st_size)

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path_for(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read(self, digest: str) -> bytes:
        """The whole blob: for small documents (configs, manifests) only."""
        with self.open(digest) as f:
            return f.read()

    def writer(self) -> LocalWriter:
        return LocalWriter(self)

    def ingest(
        self,
        stream: BinaryIO | Iterable[bytes],
        *,
        expected: str | None = None,
        size: int | None = None,
    ) -> Descriptor:
        with self.writer() as w:
            if hasattr(stream, "read"):
                while chunk := stream.read(CHUNK):  # type: ignore[union-attr]
                    w.write(chunk)
            else:
                for chunk in stream:  # type: ignore[union-attr]
                    w.write(chunk)
            return w.commit(expected, size)

    def delete(self, digest: str) -> bool:
        try:
            self.path_for(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self) -> list[str]:
        return sorted("sha256:" + p.name for p in (self.root / "blobs" / "sha256").iterdir())
