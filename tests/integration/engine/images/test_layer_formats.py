"""Layer tars in the header formats real tools write, read from a non-seekable stream as a
pull reads them: GNU and PAX long names and link targets, hardlinks to long names, pax
xattrs, payloads larger than one read, and bytes after the end-of-archive blocks (which
the diff id covers).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from minke.engine.images import ImageService
from minke.engine.images.extract import extract_layer

pytestmark = pytest.mark.integration

LONG_DIR = "/".join(["d" * 60] * 3)  # 182 characters: needs a GNU or PAX long name
BIG = bytes(range(256)) * (3 * 4096 + 7)  # 3 MiB and a bit: several reads of the payload


class _Unseekable(io.RawIOBase):
    """A byte stream without tell/seek, as the body of a registry response."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self._data), 65_521)  # an odd size: reads never align
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def _layer(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name in ("d" * 60, f"{'d' * 60}/{'d' * 60}", LONG_DIR):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo(f"{LONG_DIR}/big-{'f' * 80}.bin")
        info.size, info.mode, info.uid, info.gid = len(BIG), 0o640, 1000, 1001
        if fmt == tarfile.PAX_FORMAT:
            info.pax_headers = {"SCHILY.xattr.user.origin": "layer-test"}
        tar.addfile(info, io.BytesIO(BIG))
        link = tarfile.TarInfo(f"{LONG_DIR}/hard-{'h' * 80}")
        link.type, link.linkname = tarfile.LNKTYPE, info.name
        tar.addfile(link)
        sym = tarfile.TarInfo("short-link")
        sym.type, sym.linkname = tarfile.SYMTYPE, f"/{info.name}"
        tar.addfile(sym)
        small = tarfile.TarInfo("etc/small")
        small.size = 5
        tar.addfile(small, io.BytesIO(b"small"))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_links_and_big_payloads_from_a_stream(fmt: int, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (chown)")
    dest = tmp_path / "layer"
    dest.mkdir()
    size = extract_layer(io.BufferedReader(_Unseekable(_layer(fmt))), dest)  # type: ignore[arg-type]
    big = dest / LONG_DIR / f"big-{'f' * 80}.bin"
    assert size == len(BIG) + 5
    assert big.read_bytes() == BIG
    st = big.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_nlink) == (0o640, 1000, 1001, 2)
    assert (dest / LONG_DIR / f"hard-{'h' * 80}").stat().st_ino == st.st_ino
    assert os.readlink(dest / "short-link") == f"/{LONG_DIR}/big-{'f' * 80}.bin"
    assert (dest / "etc" / "small").read_bytes() == b"small"
    if fmt == tarfile.PAX_FORMAT:
        assert os.getxattr(big, "user.origin") == b"layer-test"


def test_diff_id_covers_bytes_after_the_archive_end(service: ImageService) -> None:
    layer = _layer(tarfile.PAX_FORMAT) + b"\0" * 10_240 + b"trailing"
    staging = service.staging()
    try:
        doc = staging.stage_layer(io.BytesIO(gzip.compress(layer)), None)  # type: ignore[arg-type]
        assert doc["diff_id"] == "sha256:" + hashlib.sha256(layer).hexdigest()
        assert doc["tar_size"] == len(layer)
    finally:
        staging.discard()
