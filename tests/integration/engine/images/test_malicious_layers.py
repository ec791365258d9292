"""Every case of the shared malicious-layer list, extracted for real into a tmp_path root.

The cases live in ``<repo>/../shared/reference/security/malicious-layer-cases.json``; they
are read from there, never copied. Each expectation is checked as that file defines it.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from minke.engine.images.extract import OPAQUE_XATTR, extract_layer
from minke.errors import InvalidParameter

pytestmark = pytest.mark.integration

CASES_FILE = (
    Path(__file__).resolve().parents[4].parent
    / "shared"
    / "reference"
    / "security"
    / "malicious-layer-cases.json"
)


def _cases() -> list[dict[str, Any]]:
    if not CASES_FILE.is_file():
        return []
    return json.loads(CASES_FILE.read_text())["cases"]


def _tar(entries: list[dict[str, Any]], victim: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:

            def sub(text: str) -> str:
                return text.replace("{VICTIM_PARENT}", victim.parent.name).replace(
                    "{VICTIM}", str(victim)
                )

            info = tarfile.TarInfo(sub(entry["name"]))
            info.uid = entry.get("uid", 0)
            info.gid = entry.get("gid", 0)
            info.mode = int(entry.get("mode", "0o755" if entry["type"] == "dir" else "0o644"), 8)
            info.mtime = 1_700_000_000
            data = entry.get("data", "").encode()
            kind = entry["type"]
            info.type = {
                "file": tarfile.REGTYPE,
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "link": tarfile.LNKTYPE,
                "char": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("symlink", "link"):
                info.linkname = sub(entry["linkname"])
            if kind == "char":
                info.devmajor, info.devminor = entry["devmajor"], entry["devminor"]
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _snapshot(path: Path) -> dict[str, tuple[int, int, int, bytes | str | None]]:
    """Everything under ``path`` with inode, mode, link count and content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = full.lstat()
            content: bytes | str | None = None
            if stat.S_ISREG(st.st_mode):
                content = full.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(full)
            out[str(full.relative_to(path))] = (st.st_ino, st.st_mode, st.st_nlink, content)
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, chown, trusted xattrs)")
@pytest.mark.skipif(not CASES_FILE.is_file(), reason=f"{CASES_FILE} is absent")
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["case"])
def test_malicious_layer_case(case: dict[str, Any], tmp_path: Path) -> None:
    base = tmp_path / "base"
    dest = base / "dest"
    victim = base / "victim"
    dest.mkdir(parents=True)
    victim.mkdir()
    (victim / "hello").write_text("HOST")
    outside_before = {p: s for p, s in _snapshot(tmp_path).items() if not p.startswith("base/dest")}

    refused = False
    try:
        extract_layer(io.BytesIO(_tar(case["entries"], victim)), dest)
    except InvalidParameter:
        refused = True

    outside_after = {p: s for p, s in _snapshot(tmp_path).items() if not p.startswith("base/dest")}
    # Whatever the expectation: nothing outside the root is created, changed or linked.
    assert outside_after == outside_before
    assert (victim / "hello").read_text() == "HOST"
    assert (victim / "hello").stat().st_nlink == 1

    for expect in case["expect"].split(";"):
        kind, _, arg = expect.partition(":")
        if kind == "reject":
            assert refused, "the layer must be refused"
        elif kind in ("reject_or_contain", "contain", "any"):
            pass  # the containment check above is the whole requirement
        elif kind == "inroot":
            assert not refused
            assert (dest / arg).is_file()
        elif kind == "inroot_samefile":
            assert not refused
            left, right = arg.split("=")
            assert (dest / left).lstat().st_ino == (dest / right).lstat().st_ino
        elif kind == "symlink":
            assert not refused
            link, target = arg.split("=")
            assert os.readlink(dest / link) == target
        elif kind == "mode":
            assert not refused
            path, mode = arg.split("=")
            assert stat.S_IMODE((dest / path).lstat().st_mode) == int(mode, 8)
        elif kind == "owner":
            assert not refused
            path, uid = arg.split("=")
            assert (dest / path).lstat().st_uid == int(uid)
        elif kind == "chardev":
            assert not refused
            st = (dest / arg).lstat()
            assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
        elif kind == "engine_must_interpret":
            assert not refused
            assert not any(p.name.startswith(".wh.") for p in dest.rglob("*"))
            assert os.getxattr(dest / "d", OPAQUE_XATTR) == b"y"
        else:
            pytest.fail(f"unknown expectation {kind!r} in {CASES_FILE.name}")
