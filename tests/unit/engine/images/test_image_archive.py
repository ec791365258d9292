"""Archive parsing without extraction: layouts, links inside the archive, verification."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from minke.engine.images.archive import host_arch, images_in, stage_archive
from minke.errors import InvalidParameter


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    buf.seek(0)
    return buf


def test_docker_layout_follows_layer_symlinks(tmp_path: Path) -> None:
    manifest = [
        {"Config": "c.json", "RepoTags": ["a:1"], "Layers": ["l1/layer.tar", "l2/layer.tar"]}
    ]
    archive = _tar(
        {"c.json": b"{}", "l1/layer.tar": b"L", "manifest.json": json.dumps(manifest).encode()},
        links={"l2/layer.tar": "../l1/layer.tar"},
    )
    [image] = images_in(stage_archive(archive, tmp_path))
    assert image.config == b"{}" and image.tags == ["a:1"]
    assert image.layers[0] == image.layers[1] and image.layers[0].read_bytes() == b"L"
    # Staged under numbered names, never under names from the archive.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1", "2"]


def test_oci_layout_picks_the_host_platform_from_a_nested_index(tmp_path: Path) -> None:
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict[str, object]:
        blobs[f"blobs/sha256/{_sha(data)[7:]}"] = data
        return {"digest": _sha(data), "size": len(data)}

    def manifest(config: bytes) -> dict[str, object]:
        return put(json.dumps({"config": put(config), "layers": [put(b"layer" + config)]}).encode())

    other = {**manifest(b"other"), "platform": {"os": "linux", "architecture": "mips"}}
    mine = {**manifest(b"mine"), "platform": {"os": "linux", "architecture": host_arch()}}
    index = put(
        json.dumps(
            {"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [other, mine]}
        ).encode()
    )
    top = {
        "schemaVersion": 2,
        "manifests": [
            {**index, "annotations": {"io.containerd.image.name": "docker.io/library/x:1"}}
        ],
    }
    archive = _tar({**blobs, "index.json": json.dumps(top).encode(), "oci-layout": b"{}"})
    [image] = images_in(stage_archive(archive, tmp_path))
    assert image.config == b"mine" and image.tags == ["docker.io/library/x:1"]
    assert image.layers[0].read_bytes() == b"layermine"


def test_blob_digest_is_verified(tmp_path: Path) -> None:
    archive = _tar({f"blobs/sha256/{'0' * 64}": b"not that"})
    with pytest.raises(InvalidParameter, match="digest mismatch"):
        stage_archive(archive, tmp_path)


def test_archive_without_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="neither manifest.json nor index.json"):
        images_in(stage_archive(_tar({"repositories": b"{}"}), tmp_path))
    with pytest.raises(InvalidParameter, match="invalid archive"):
        stage_archive(io.BytesIO(b"\x00" * 10 + b"not a tar" * 100), tmp_path / "x")
