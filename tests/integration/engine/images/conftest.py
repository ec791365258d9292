"""Fixtures for the image service on real overlayfs: a service per test under tmp_path,
builders of layer tars and of archives in Docker's and OCI's layouts, and cleanup of every
overlay mount a test made."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minke.engine.events import EventBus
from minke.engine.images import ImageService
from minke.engine.state import StateDB

pytestmark = pytest.mark.integration

Entry = tuple[str, str, Any]  # (name, kind: file|dir|symlink|whiteout|opaque, data/target)


def _overlay_available() -> bool:
    return "overlay" in Path("/proc/filesystems").read_text()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ImageService]:
    if os.geteuid() != 0:
        pytest.skip("needs root (mknod, chown, trusted xattrs, mount)")
    if not _overlay_available():
        pytest.skip("overlayfs is not available")
    db = StateDB(tmp_path / "state.db")
    yield ImageService(root=tmp_path / "image", db=db, events=EventBus())
    db.close()


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Targets a test mounted; unmounted at teardown whatever happened."""
    made: list[Path] = []
    yield made
    for target in reversed(made):
        os.system(f"umount {target} 2>/dev/null")


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in entries:
            if kind == "whiteout":
                head, _, base = name.rpartition("/")
                name, kind, data = (f"{head}/" if head else "") + f".wh.{base}", "file", ""
            elif kind == "opaque":
                name, kind, data = f"{name}/.wh..wh..opq", "file", ""
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                raw = data.encode() if isinstance(data, str) else data
                info.size, info.mode = len(raw), 0o644
                tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(diff_ids: list[str], **config: Any) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-02T03:04:05.123456789Z",
            "config": {"Cmd": ["sh"], **config},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [
                {"created": "2024-01-02T03:04:05Z", "created_by": f"layer {i}"}
                for i in range(len(diff_ids))
            ],
        },
        indent=2,  # deliberately not minke's own serialisation: ids must use the bytes as-is
    ).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def legacy_archive(
    layers: list[bytes], tags: list[str], *, gzip_layers: bool = False, config: bytes | None = None
) -> bytes:
    """Docker <= 24 ``docker save``: <id>/layer.tar, <hex>.json, manifest.json,
    repositories; a repeated layer is a symlink to the first copy, as dockerd writes it."""
    config = config or image_config([sha(x) for x in layers])
    buf = io.BytesIO()
    paths: list[str] = []
    with tarfile.open(fileobj=buf, mode="w") as tar:
        first: dict[bytes, str] = {}
        for i, layer in enumerate(layers):
            layer_id = hashlib.sha256(f"v1-{i}".encode()).hexdigest()
            path = f"{layer_id}/layer.tar"
            if layer in first:
                info = tarfile.TarInfo(path)
                info.type, info.linkname = tarfile.SYMTYPE, f"../{first[layer]}"
                tar.addfile(info)
            else:
                first[layer] = path
                _add(tar, path, gzip.compress(layer) if gzip_layers else layer)
            _add(tar, f"{layer_id}/VERSION", b"1.0")
            paths.append(path)
        config_name = sha(config)[7:] + ".json"
        _add(tar, config_name, config)
        manifest = [{"Config": config_name, "RepoTags": tags, "Layers": paths}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
        _add(tar, "repositories", b"{}")
    return buf.getvalue()


def oci_archive(
    layers: list[bytes], ref_name: str | None, *, gzip_layers: bool = True
) -> tuple[bytes, bytes]:
    """An OCI image layout as skopeo or buildah write it: gzip layers, index.json
    with org.opencontainers.image.ref.name, no manifest.json. Returns (tar, config)."""
    config = image_config([sha(x) for x in layers])
    blobs: dict[str, bytes] = {sha(config): config}
    descriptors = []
    for layer in layers:
        data = gzip.compress(layer) if gzip_layers else layer
        blobs[sha(data)] = data
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha(data),
                "size": len(data),
            }
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    blobs[sha(manifest)] = manifest
    entry: dict[str, Any] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(manifest),
        "size": len(manifest),
    }
    if ref_name:
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in blobs.items():
            _add(tar, f"blobs/sha256/{digest[7:]}", data)
        _add(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode())
    return buf.getvalue(), config


async def chunks(data: bytes, size: int = 7919) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.fixture
def build() -> dict[str, Callable[..., Any]]:
    return {
        "layer": layer_tar,
        "legacy": legacy_archive,
        "oci": oci_archive,
        "sha": sha,
        "config": image_config,
        "chunks": chunks,
    }
