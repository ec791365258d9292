"""Push: each layer (skipped when the registry has it, mounted from another repository of
the same registry when we know one that has it, else gzip-compressed and uploaded), the
config, then a Docker schema-2 manifest under the tag; the digest becomes a RepoDigest.

Layers are compressed while they upload (``compress.gzip_stream`` in a worker thread
feeding a streamed ``PATCH``), so nothing is written twice; ``chunk_size`` switches to a
chunked upload of ``Content-Range`` PATCHes. Up to five layers go at once, as dockerd's
``--max-concurrent-uploads``.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from minke.engine.images._streams import AsyncSink
from minke.engine.images.reference import Reference
from minke.engine.images.registry.auth import Authorizer
from minke.engine.images.registry.client import RepositoryClient
from minke.engine.images.registry.compress import gzip_stream
from minke.engine.images.registry.endpoint import Endpoint, RegistryConfig
from minke.engine.images.registry.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    Descriptor,
    image_manifest,
)
from minke.engine.images.registry.progress import Progress, Reporter, short

if TYPE_CHECKING:
    from minke.engine.images.service import ImageService

CONCURRENT_UPLOADS = 5  # dockerd's --max-concurrent-uploads default


@dataclass
class PushResult:
    tag: str
    digest: str
    size: int


async def push(service: ImageService, ref: Reference, image_id: str, *,
               config: RegistryConfig, credentials: dict[str, str] | None,
               progress: Progress, chunk_size: int | None = None) -> PushResult:
    """Push ``image_id`` as ``ref`` (which has a tag)."""
    assert ref.tag is not None
    report = Reporter(progress)
    endpoint = await asyncio.to_thread(config.endpoint, ref.domain)
    diff_ids = list(service.image_doc(image_id)["diff_ids"])
    raw_config = service.content.read(image_id)
    async with RepositoryClient(endpoint, ref.path, Authorizer(credentials),
                                ("pull", "push")) as client:
        for diff_id in diff_ids:
            report.layer(short(diff_id), "Preparing")
        gate = asyncio.Semaphore(CONCURRENT_UPLOADS)

        async def one(diff_id: str) -> Descriptor:
            async with gate:
                return await _push_layer(service, client, endpoint, ref, diff_id, report,
                                         chunk_size)

        tasks = [asyncio.ensure_future(one(d)) for d in dict.fromkeys(diff_ids)]
        try:
            done = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        by_diff = dict(zip(dict.fromkeys(diff_ids), done, strict=True))
        layers = [by_diff[d] for d in diff_ids]
        if await client.blob_size(image_id) is None:
            await client.upload_monolithic(image_id, raw_config)
        manifest = image_manifest(Descriptor(DOCKER_CONFIG, image_id, len(raw_config)), layers)
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        await client.put_manifest(ref.tag, manifest, DOCKER_MANIFEST)
    service.add_repo_digest(Reference(ref.domain, ref.path, None, digest), image_id)
    report.status(f"{ref.tag}: digest: {digest} size: {len(manifest)}")
    report.aux({"Tag": ref.tag, "Digest": digest, "Size": len(manifest)})
    service.events.publish("image", "push", str(ref), {"name": ref.familiar()})
    return PushResult(ref.tag, digest, len(manifest))


async def _push_layer(service: ImageService, client: RepositoryClient, endpoint: Endpoint,
                      ref: Reference, diff_id: str, report: Reporter,
                      chunk_size: int | None) -> Descriptor:
    id_ = short(diff_id)
    known = [e for e in service.distribution.get(diff_id) if e.get("registry") == endpoint.host]
    # The same repository first (a HEAD answers it), then a mount from another one.
    known.sort(key=lambda e: e.get("repository") != ref.path)
    for entry in known:
        desc = Descriptor(str(entry.get("mediaType") or DOCKER_LAYER), str(entry["digest"]),
                          int(entry.get("size") or 0))
        if entry.get("repository") == ref.path:
            size = await client.blob_size(desc.digest)
            if size is not None:
                report.layer(id_, "Layer already exists")
                return Descriptor(desc.media_type, desc.digest, size)
        elif await client.mount_blob(desc.digest, str(entry["repository"])):
            report.layer(id_, f"Mounted from {_familiar_path(ref, str(entry['repository']))}")
            _remember(service, endpoint, ref, diff_id, desc)
            return desc
    desc = await _upload(service, client, diff_id, report, chunk_size)
    _remember(service, endpoint, ref, diff_id, desc)
    report.layer(id_, "Pushed")
    return desc


def _familiar_path(ref: Reference, path: str) -> str:
    return Reference(ref.domain, path).familiar_name


def _remember(service: ImageService, endpoint: Endpoint, ref: Reference, diff_id: str,
              desc: Descriptor) -> None:
    service.distribution.add(diff_id, digest=desc.digest, media_type=desc.media_type,
                             size=desc.size, registry=endpoint.host, repository=ref.path)


async def _upload(service: ImageService, client: RepositoryClient, diff_id: str,
                  report: Reporter, chunk_size: int | None) -> Descriptor:
    id_ = short(diff_id)
    total = service.content.info(diff_id).size
    location = await client.start_upload()
    loop = asyncio.get_running_loop()
    sink = AsyncSink(loop)
    result: dict[str, Any] = {}
    read = 0

    def compress(out: AsyncSink) -> None:
        with service.content.open(diff_id) as f:
            result["digest"] = gzip_stream(_Counting(f, counted), out.write)

    def counted(n: int) -> None:
        nonlocal read
        read += n
        loop.call_soon_threadsafe(report.transfer, id_, "Pushing", read, total)

    chunks = sink.chunks(compress)
    if chunk_size:
        offset = 0
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
            while len(buffer) >= chunk_size:
                piece = bytes(buffer[:chunk_size])
                del buffer[:chunk_size]
                location = await client.upload_chunk(location, piece, offset, len(piece))
                offset += len(piece)
        if buffer:
            location = await client.upload_chunk(location, bytes(buffer), offset, len(buffer))
    else:
        location = await client.upload_chunk(location, chunks, 0, None)
    digest = result["digest"]
    await client.finish_upload(location, digest.digest)
    report.transfer(id_, "Pushing", total, total, force=True)
    return Descriptor(DOCKER_LAYER, digest.digest, digest.size)


class _Counting:
    """A reader that reports how many bytes went through (the push progress)."""

    def __init__(self, source: BinaryIO, counted: Any) -> None:
        self._source = source
        self._counted = counted

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self._counted(len(data))
        return data
