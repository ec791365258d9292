from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from minke.engine.content import LocalContentStore
from minke.errors import InvalidParameter, NotFound


def test_ingest_verify_open_delete(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    data = b"hello" * 100_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    desc = store.ingest(io.BytesIO(data), expected=digest, size=len(data))
    assert desc.digest == digest and desc.size == len(data)
    assert store.exists(digest) and store.list() == [digest]
    with store.open(digest) as f:
        assert f.read() == data
    assert store.path(digest).name == digest[7:]
    # Ingesting the same bytes again is a no-op that keeps one file.
    assert store.ingest([data[:10], data[10:]]).digest == digest
    assert store.delete(digest) and not store.exists(digest)
    with pytest.raises(NotFound):
        store.open(digest)


def test_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    with pytest.raises(InvalidParameter, match="digest mismatch"):
        store.ingest(io.BytesIO(b"abc"), expected="sha256:" + "0" * 64)
    with pytest.raises(InvalidParameter, match="size mismatch"):
        store.ingest(io.BytesIO(b"abc"), size=4)
    assert store.list() == []
    assert list((tmp_path / "ingest").iterdir()) == []


def test_writer_abort_and_invalid_digest(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    with store.writer() as w:
        w.write(b"partial")
    assert list((tmp_path / "ingest").iterdir()) == []
    with pytest.raises(InvalidParameter):
        store.exists("md5:abc")
