"""Image archives: reading what ``docker save`` and OCI tools write, writing what both read.

Read: Docker's legacy layout (``manifest.json`` + ``<id>/layer.tar`` + ``<id>.json``, layer
tars possibly symlinked to one another), Docker 25+'s (``manifest.json`` beside an OCI
layout) and a plain OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``).
Entries are staged to numbered files, never to paths taken from the archive, and blobs
named by digest are verified while staged.

Write: one archive both readers accept: blobs under ``blobs/sha256/<hex>`` (config, the
uncompressed layer tars, an OCI manifest per image), ``manifest.json`` pointing at them for
Docker 20.10's loader, ``index.json`` and ``oci-layout`` for OCI tools, and ``repositories``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import posixpath
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from minke.engine.content import LocalContentStore
from minke.engine.images._streams import decompressed
from minke.engine.images.extract import clean
from minke.engine.images.reference import Reference
from minke.errors import InvalidParameter

MAX_DOCUMENT = 32 << 20  # bytes; configs, manifests and indexes are read whole
MAX_LINK_HOPS = 16
COPY_CHUNK = 1 << 20

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "i686": "386",
}


def host_arch() -> str:
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


# -- reading -------------------------------------------------------------------------------


@dataclass
class ArchiveImage:
    """One image found in an archive: its config bytes, staged layer files and tags."""

    config: bytes
    layers: list[Path]
    tags: list[str] = field(default_factory=list)


class StagedArchive:
    """The regular files of an archive, staged under ``dir`` and looked up by their
    cleaned archive path; links are followed inside the archive only."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.files: dict[str, Path] = {}
        self.links: dict[str, str] = {}

    def __contains__(self, name: str) -> bool:
        return self._resolve(name) is not None

    def _resolve(self, name: str) -> Path | None:
        key = "/".join(clean(name))
        for _ in range(MAX_LINK_HOPS):
            if key in self.files:
                return self.files[key]
            if key not in self.links:
                return None
            key = self.links[key]
        return None

    def path(self, name: str) -> Path:
        found = self._resolve(name)
        if found is None:
            raise InvalidParameter(f"invalid archive: {name} not found in the archive")
        return found

    def read(self, name: str) -> bytes:
        path = self.path(name)
        if path.stat().st_size > MAX_DOCUMENT:
            raise InvalidParameter(f"invalid archive: {name} is too large")
        return path.read_bytes()

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"invalid archive: {name}: {exc}") from None


def stage_archive(stream: BinaryIO, dest: Path) -> StagedArchive:
    """Copy the files of the archive ``stream`` (tar, possibly compressed) under ``dest``."""
    staged = StagedArchive(dest)
    try:
        with tarfile.open(fileobj=decompressed(stream), mode="r|") as tar:
            for number, member in enumerate(tar):
                key = "/".join(clean(member.name))
                if member.isreg():
                    staged.files[key] = _stage_file(tar, member, key, dest / str(number))
                    staged.links.pop(key, None)
                elif member.issym():
                    target = posixpath.join(posixpath.dirname(key), member.linkname)
                    staged.links[key] = "/".join(clean(target))
                    staged.files.pop(key, None)
                elif member.islnk():
                    staged.links[key] = "/".join(clean(member.linkname))
                    staged.files.pop(key, None)
            while stream.read(COPY_CHUNK):
                pass
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid archive: {exc}") from None
    return staged


def _stage_file(tar: tarfile.TarFile, member: tarfile.TarInfo, key: str, dest: Path) -> Path:
    source = tar.extractfile(member)
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        if source is not None:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    parts = key.split("/")
    if len(parts) == 3 and parts[:2] == ["blobs", "sha256"] and digest.hexdigest() != parts[2]:
        raise InvalidParameter(
            f"invalid archive: digest mismatch for {key}: content is sha256:{digest.hexdigest()}"
        )
    return dest


def images_in(archive: StagedArchive) -> list[ArchiveImage]:
    """The images of a staged archive; ``manifest.json`` wins when both layouts are there,
    as they describe the same images."""
    if "manifest.json" in archive:
        return _docker_images(archive)
    if "index.json" in archive:
        return _oci_images(archive)
    raise InvalidParameter("invalid archive: neither manifest.json nor index.json found")


def _docker_images(archive: StagedArchive) -> list[ArchiveImage]:
    manifest = archive.json("manifest.json")
    if not isinstance(manifest, list):
        raise InvalidParameter("invalid archive: manifest.json is not a list")
    out = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidParameter("invalid archive: manifest.json entry without Config")
        out.append(
            ArchiveImage(
                config=archive.read(entry["Config"]),
                layers=[archive.path(p) for p in entry.get("Layers") or []],
                tags=list(entry.get("RepoTags") or []),
            )
        )
    return out


def _blob(archive: StagedArchive, descriptor: dict[str, Any]) -> str:
    digest = descriptor.get("digest", "")
    algorithm, _, hex_ = digest.partition(":")
    if algorithm != "sha256" or not hex_:
        raise InvalidParameter(f"invalid archive: unsupported digest {digest!r}")
    return f"blobs/sha256/{hex_}"


def _oci_images(archive: StagedArchive) -> list[ArchiveImage]:
    out: list[ArchiveImage] = []
    by_config: dict[bytes, ArchiveImage] = {}
    for descriptor in archive.json("index.json").get("manifests") or []:
        manifest = _pick_manifest(archive, descriptor)
        config = archive.read(_blob(archive, manifest["config"]))
        image = by_config.get(config)
        if image is None:
            layers = [archive.path(_blob(archive, d)) for d in manifest.get("layers") or []]
            image = by_config[config] = ArchiveImage(config, layers)
            out.append(image)
        tag = _tag_of(descriptor.get("annotations") or {})
        if tag and tag not in image.tags:
            image.tags.append(tag)
    return out


def _pick_manifest(archive: StagedArchive, descriptor: dict[str, Any], depth: int = 0) -> Any:
    document = archive.json(_blob(archive, descriptor))
    media = document.get("mediaType") or descriptor.get("mediaType")
    if media not in (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST) and "manifests" not in document:
        return document
    if depth > 4:
        raise InvalidParameter("invalid archive: indexes nested too deep")
    candidates = document.get("manifests") or []
    for child in candidates:
        wanted = child.get("platform") or {}
        if wanted.get("os") == "linux" and wanted.get("architecture") == host_arch():
            return _pick_manifest(archive, child, depth + 1)
    if not candidates:
        raise InvalidParameter("invalid archive: empty image index")
    return _pick_manifest(archive, candidates[0], depth + 1)


def _tag_of(annotations: dict[str, str]) -> str | None:
    name = annotations.get(ANNOTATION_IMAGE_NAME)
    if name:
        return name
    ref_name = annotations.get(ANNOTATION_REF_NAME, "")
    # A bare tag ("latest") names no repository; only a full reference can be a tag here.
    return ref_name if ("/" in ref_name or ":" in ref_name) else None


# -- writing -------------------------------------------------------------------------------


@dataclass
class SaveImage:
    """One image to write: id (= config digest), diff ids, and the references to record."""

    image_id: str
    diff_ids: list[str]
    refs: list[Reference]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, _BytesReader(data))


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._pos + n
        chunk = bytes(self._view[self._pos : end])
        self._pos += len(chunk)
        return chunk


def write_archive(out: BinaryIO, images: list[SaveImage], content: LocalContentStore,
                  *, oci_only: bool = False) -> None:
    """Write the archive of ``images`` to ``out`` as a tar stream; ``oci_only`` leaves out
    Docker's ``manifest.json`` and ``repositories`` (``save --format oci``): a plain OCI
    image layout as skopeo's ``oci-archive:`` and umoci read it."""
    written: set[str] = set()
    manifest_json: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        def blob(digest: str) -> dict[str, Any]:
            path = f"blobs/sha256/{digest.removeprefix('sha256:')}"
            size = content.info(digest).size
            if digest not in written:
                info = tarfile.TarInfo(path)
                info.size, info.mode = size, 0o644
                with content.open(digest) as f:
                    tar.addfile(info, f)
                written.add(digest)
            return {"path": path, "digest": digest, "size": size}

        for image in images:
            config = blob(image.image_id)
            layers = [blob(d) for d in image.diff_ids]
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MEDIA_OCI_MANIFEST,
                    "config": {
                        "mediaType": MEDIA_OCI_CONFIG,
                        "digest": config["digest"],
                        "size": config["size"],
                    },
                    "layers": [
                        {"mediaType": MEDIA_OCI_LAYER, "digest": la["digest"], "size": la["size"]}
                        for la in layers
                    ],
                },
                separators=(",", ":"),
            ).encode()
            manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            if manifest_digest not in written:
                _add_bytes(tar, f"blobs/sha256/{manifest_digest[7:]}", manifest)
                written.add(manifest_digest)
            descriptor = {
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest),
            }
            tags = [r for r in image.refs if r.tag]
            for ref in tags:
                index.append(
                    {
                        **descriptor,
                        "annotations": {
                            ANNOTATION_IMAGE_NAME: str(ref),
                            ANNOTATION_REF_NAME: ref.tag,
                        },
                    }
                )
                if layers:
                    top = layers[-1]["digest"].removeprefix("sha256:")
                    repositories.setdefault(ref.familiar_name, {})[ref.tag or ""] = top
            if not tags:
                index.append(descriptor)
            manifest_json.append(
                {
                    "Config": config["path"],
                    "RepoTags": [r.familiar() for r in tags] or None,
                    "Layers": [la["path"] for la in layers],
                }
            )
        _add_bytes(
            tar,
            "index.json",
            json.dumps(
                {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index},
                separators=(",", ":"),
            ).encode(),
        )
        if not oci_only:
            _add_bytes(tar, "manifest.json",
                       json.dumps(manifest_json, separators=(",", ":")).encode())
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if repositories and not oci_only:
            _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def remove_staging(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
