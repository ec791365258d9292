"""Image manifests and indexes as registries serve them: media types, validation, and the
choice of one platform's manifest from an index (a Docker manifest list or an OCI index).

Knows nothing of HTTP. Manifests are JSON documents whose digest is the sha256 of the
exact bytes; ``parse_manifest`` takes those bytes and keeps them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from minke.engine.images.archive import host_arch
from minke.errors import InvalidParameter, NotFound, NotSupported

MAX_MANIFEST = 4 << 20  # bytes; dockerd and containerd refuse larger manifests

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
LAYER_TYPES = (DOCKER_LAYER, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
# What the client says it accepts, preferred first (dockerd sends the same set).
ACCEPT = ", ".join((DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX))


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"mediaType": self.media_type, "size": self.size,
                               "digest": self.digest}
        if self.platform:
            doc["platform"] = self.platform
        return doc


@dataclass(frozen=True)
class Manifest:
    """An image manifest (config + layers) or an index (``manifests``), with its bytes."""

    media_type: str
    raw: bytes
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    return Platform("linux", host_arch(), "v8" if host_arch() == "arm64" else "")


def parse_platform(text: str | None) -> Platform:
    """``os/arch[/variant]`` as ``--platform`` takes it; empty means the host's."""
    if not text:
        return host_platform()
    parts = text.lower().split("/")
    if len(parts) == 1:
        parts = ["linux", parts[0]]
    if len(parts) > 3 or not all(parts):
        raise InvalidParameter(f"\"{text}\": unknown operating system or architecture: "
                               "invalid argument")
    os_, arch = parts[0], {"x86_64": "amd64", "aarch64": "arm64"}.get(parts[1], parts[1])
    return Platform(os_, arch, parts[2] if len(parts) == 3 else "")


def _descriptor(doc: Any, where: str) -> Descriptor:
    if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str):
        raise InvalidParameter(f"invalid manifest: {where} without a digest")
    digest = doc["digest"]
    if not digest.startswith("sha256:") or len(digest) != 71:
        raise NotSupported(f"invalid manifest: unsupported digest {digest!r} in {where}")
    size = doc.get("size")
    if not isinstance(size, int) or size < 0:
        raise InvalidParameter(f"invalid manifest: {where} {digest} without a valid size")
    return Descriptor(str(doc.get("mediaType") or ""), digest, size,
                      doc.get("platform") if isinstance(doc.get("platform"), dict) else None,
                      tuple(doc.get("urls") or ()))


def parse_manifest(raw: bytes, content_type: str = "") -> Manifest:
    if len(raw) > MAX_MANIFEST:
        raise InvalidParameter(f"manifest too large: {len(raw)} bytes, the limit is "
                               f"{MAX_MANIFEST} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"invalid manifest: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid manifest: not a JSON object")
    media = doc.get("mediaType") or content_type.split(";")[0].strip()
    if not media:
        media = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
        raise NotSupported("schema 1 manifests are not supported: push the image again "
                           "with a current client")
    if media in INDEX_TYPES:
        children = tuple(_descriptor(d, "manifests entry") for d in doc.get("manifests") or [])
        return Manifest(media, raw, None, (), children)
    if media not in MANIFEST_TYPES:
        raise NotSupported(f"unsupported manifest media type {media!r}")
    config = _descriptor(doc.get("config"), "config")
    layers = tuple(_descriptor(d, "layer") for d in doc.get("layers") or [])
    for layer in layers:
        if layer.media_type not in LAYER_TYPES and layer.media_type != DOCKER_FOREIGN_LAYER:
            raise NotSupported(f"unsupported layer media type {layer.media_type!r}")
    return Manifest(media, raw, config, layers, ())


def choose(index: Manifest, wanted: Platform) -> Descriptor:
    """The manifest of ``wanted`` in ``index``, as containerd's platform matcher picks: the
    same os and architecture, the wanted variant if there is one (arm64 matches a missing
    variant), else the first of that os and architecture."""
    candidates = []
    for child in index.manifests:
        p = child.platform or {}
        if p.get("os", "").lower() != wanted.os or p.get("architecture", "") != wanted.architecture:
            continue
        if child.media_type and child.media_type not in MANIFEST_TYPES:
            continue
        candidates.append(child)
    for child in candidates:
        if (child.platform or {}).get("variant", "") == wanted.variant:
            return child
    if candidates:
        return candidates[0]
    found = sorted({_platform_name(c.platform or {}) for c in index.manifests})
    raise NotFound(f"no matching manifest for {wanted} in the manifest list entries"
                   + (f" (available: {', '.join(found)})" if found else ""))


def _platform_name(p: dict[str, Any]) -> str:
    return "/".join(str(p[k]) for k in ("os", "architecture", "variant") if p.get(k))


def image_manifest(config: Descriptor, layers: list[Descriptor], *, oci: bool = False) -> bytes:
    """The bytes of a schema-2 manifest (Docker's media types unless ``oci``), laid out as
    dockerd writes them (three-space indent), so that the digest is stable per content."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": config.to_json(),
        "layers": [la.to_json() for la in layers],
    }
    return json.dumps(doc, indent=3).encode()
