"""Pull: manifest (or index → the platform's manifest), config, then the layers, downloaded
in parallel and streamed straight into extraction, all committed in one step or not at all.

Every byte is verified: the manifest against the digest asked for (or the registry's
``Docker-Content-Digest``), the config against the manifest, each compressed blob against
its descriptor and each uncompressed layer against the config's diff id. Layers are
extracted while they download, through a bounded pipe that lets the download run ahead of
the extraction thread (no layer is held in memory or written compressed); a broken
download resumes with ``Range`` from the byte it reached, or starts over, skipping what was
read, when the registry ignores ranges. A failure at any step discards the staged layers
and blobs, so the store and the tag are exactly as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from minke.engine.images._streams import ChunkPipe, PipeClosed
from minke.engine.images.ingest import Staging
from minke.engine.images.reference import Reference
from minke.engine.images.registry.auth import Authorizer
from minke.engine.images.registry.client import RepositoryClient
from minke.engine.images.registry.endpoint import RegistryConfig
from minke.engine.images.registry.manifest import (
    DOCKER_FOREIGN_LAYER,
    Descriptor,
    Manifest,
    Platform,
    choose,
    parse_manifest,
)
from minke.engine.images.registry.progress import Progress, Reporter, short
from minke.engine.snapshots import chain_ids
from minke.errors import InvalidParameter, MinkeError, NotFound, NotSupported, Unavailable

if TYPE_CHECKING:
    from minke.engine.images.service import ImageService

log = logging.getLogger(__name__)

MAX_CONFIG = 8 << 20  # bytes; an image config is read whole
CONCURRENT_DOWNLOADS = 3  # dockerd's --max-concurrent-downloads default
RETRIES = 3  # attempts to resume one broken blob download
RETRY_DELAY = 0.5  # s, doubled after each failed attempt
CHUNK = 1 << 20
READ_BUFFER = 1 << 20


@dataclass
class PullResult:
    image_id: str
    digest: str  # of the manifest or index pulled: the RepoDigest
    updated: bool  # False when the tag already named this image


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def pull(service: ImageService, ref: Reference, *, config: RegistryConfig,
               credentials: dict[str, str] | None, platform: Platform,
               progress: Progress) -> PullResult:
    """Pull ``ref`` (tagged or by digest) into ``service``; tag it on success."""
    report = Reporter(progress)
    endpoint = await asyncio.to_thread(config.endpoint, ref.domain)
    async with RepositoryClient(endpoint, ref.path, Authorizer(credentials)) as client:
        top_digest, manifest = await _resolve(client, ref, platform)
        assert manifest.config is not None
        report.status(f"Pulling from {ref.familiar_name}", ref.tag or ref.digest)
        raw_config = await client.read_blob(manifest.config.digest, MAX_CONFIG)
        if _sha256(raw_config) != manifest.config.digest:
            raise InvalidParameter(f"image config verification failed for digest "
                                   f"{manifest.config.digest}")
        diff_ids = _diff_ids(raw_config)
        layers = [d for d in manifest.layers if d.media_type != DOCKER_FOREIGN_LAYER]
        if len(diff_ids) != len(layers):
            raise InvalidParameter(f"invalid manifest: {len(layers)} layers for "
                                   f"{len(diff_ids)} diff ids in the image config")
        image_id = manifest.config.digest
        refs = [Reference(ref.domain, ref.path, None, top_digest)]
        if ref.tag and not ref.digest:
            refs.append(ref)
        previous = service.records.lookup(str(ref))
        staging = service.staging()
        try:
            await _fetch_layers(client, staging, layers, diff_ids, report)
            await asyncio.to_thread(service.commit_image, staging, raw_config, refs)
        finally:
            await asyncio.to_thread(staging.discard)
    for layer, diff_id in zip(layers, diff_ids, strict=True):
        service.distribution.add(diff_id, digest=layer.digest, media_type=layer.media_type,
                                 size=layer.size, registry=endpoint.host, repository=ref.path)
    report.status(f"Digest: {top_digest}")
    updated = previous != image_id
    report.status(f"Status: {'Downloaded newer image' if updated else 'Image is up to date'} "
                  f"for {ref.familiar()}")
    service.events.publish("image", "pull", str(ref), {"name": ref.familiar()})
    return PullResult(image_id, top_digest, updated)


async def _resolve(client: RepositoryClient, ref: Reference,
                   platform: Platform) -> tuple[str, Manifest]:
    """The digest to record (of the index when there is one) and the image manifest."""
    wanted = ref.digest or ref.tag or "latest"
    raw, media, header = await _get_manifest(client, ref, wanted)
    digest = _sha256(raw)
    expected = ref.digest or header
    if expected and expected != digest:
        raise InvalidParameter(f"manifest verification failed for digest {expected}")
    manifest = parse_manifest(raw, media)
    if manifest.is_index:
        child = choose(manifest, platform)
        raw_child, media_child, _ = await _get_manifest(client, ref, child.digest)
        if _sha256(raw_child) != child.digest:
            raise InvalidParameter(f"manifest verification failed for digest {child.digest}")
        manifest = parse_manifest(raw_child, media_child or child.media_type)
        if manifest.is_index:
            raise NotSupported("nested image indexes are not supported")
    return digest, manifest


async def _get_manifest(client: RepositoryClient, ref: Reference,
                        wanted: str) -> tuple[bytes, str, str | None]:
    try:
        return await client.get_manifest(wanted)
    except NotFound as exc:
        # dockerd's words: "manifest for x:tag not found: manifest unknown: manifest unknown"
        detail = str(exc).removeprefix("manifest: ")
        raise NotFound(f"manifest for {ref.familiar()} not found: {detail}") from None


def _diff_ids(raw: bytes) -> list[str]:
    try:
        diff_ids = json.loads(raw)["rootfs"]["diff_ids"] or []
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("invalid image config: no rootfs.diff_ids") from None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidParameter("invalid image config: rootfs.diff_ids is not a list")
    return diff_ids


async def _fetch_layers(client: RepositoryClient, staging: Staging, layers: list[Descriptor],
                        diff_ids: list[str], report: Reporter) -> None:
    chains = chain_ids(diff_ids)
    wanted = []
    for i, layer in enumerate(layers):
        if staging.has_layer(chains[i], diff_ids[i]):
            report.layer(short(layer.digest), "Already exists")
        else:
            report.layer(short(layer.digest), "Pulling fs layer")
            wanted.append(i)
    gate = asyncio.Semaphore(CONCURRENT_DOWNLOADS)

    async def one(i: int) -> None:
        async with gate:
            parent = chains[i - 1] if i else None
            await _fetch_layer(client, staging, layers[i], parent, diff_ids[i], report)

    tasks = [asyncio.ensure_future(one(i)) for i in wanted]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _fetch_layer(client: RepositoryClient, staging: Staging, layer: Descriptor,
                       parent: str | None, diff_id: str, report: Reporter) -> None:
    """Three stages at once: the download (and the blob's digest) on the loop, feeding a
    bounded pipe; decompression, the diff id's digest, the blob write and the extraction
    in a worker thread reading it. hashlib, zlib and file writes release the GIL, so the
    two run on two cores."""
    id_ = short(layer.digest)

    def downloaded(n: int) -> None:
        report.transfer(id_, "Downloading", n, layer.size, force=n == layer.size)

    pipe = ChunkPipe(asyncio.get_running_loop())
    pump = asyncio.ensure_future(_pump(_blob_chunks(client, layer, downloaded), pipe))
    work = asyncio.ensure_future(
        asyncio.to_thread(_extract, staging, pipe, layer, parent, diff_id))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        # The thread cannot be cancelled: make its next read fail, and wait for it, so
        # that nothing writes into the staging after the pull gave up.
        pipe.cancel()
        await asyncio.wait({work})
        raise
    finally:
        pipe.cancel()  # a download still running has nobody to feed any more
        if not pump.done():
            pump.cancel()
        # Its failure, if any, already reached the thread (and so this task) via the pipe.
        await asyncio.gather(pump, return_exceptions=True)
    report.layer(id_, "Verifying Checksum")
    report.layer(id_, "Download complete")
    report.transfer(id_, "Extracting", layer.size, layer.size, force=True)
    report.layer(id_, "Pull complete")


async def _pump(chunks: AsyncIterator[bytes], pipe: ChunkPipe) -> None:
    """Move the blob's chunks into ``pipe``, ahead of the thread reading it; end the
    pipe with the download's outcome."""
    try:
        async for chunk in chunks:
            await pipe.put(chunk)
    except PipeClosed:
        return
    except BaseException as exc:
        pipe.fail(exc if isinstance(exc, Exception) else PipeClosed("download cancelled"))
        raise
    else:
        pipe.finish()
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def _extract(staging: Staging, source: io.RawIOBase, layer: Descriptor, parent: str | None,
             diff_id: str) -> None:
    """In a worker thread: extract what the compressed bytes hold (their digest is checked
    by ``_blob_chunks``, which raises here, at the end of the stream, on a mismatch)."""
    reader = io.BufferedReader(source, READ_BUFFER)
    try:
        staging.stage_layer(reader, parent, expected=diff_id)  # type: ignore[arg-type]
    except Exception as exc:
        # A corrupted blob usually breaks decompression or the tar first; the digest of
        # the whole blob names the real cause, so finish reading it and check.
        try:
            while reader.read(READ_BUFFER):
                pass
        except InvalidParameter as verification:
            raise verification from exc
        except Exception:
            raise exc from None
        if "digest mismatch" in str(exc):
            raise InvalidParameter(f"filesystem layer verification failed for digest "
                                   f"{layer.digest}") from exc
        raise
    while reader.read(READ_BUFFER):
        pass  # to the end of the blob: the digest check happens there


async def _blob_chunks(client: RepositoryClient, layer: Descriptor,
                       on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    """The bytes of one blob, resuming broken transfers; ends after ``layer.size`` bytes
    (a registry sending more is cut off there, and the digest check refuses it)."""
    received = 0
    delay = RETRY_DELAY
    attempt = 0
    # Hashed here, on the loop's thread, while the worker thread decompresses, hashes and
    # extracts the chunks before: hashlib releases the GIL, so the two digests use two
    # cores. A chunk is handed on only after it is hashed, but the verdict comes at the end
    # of the blob: until then the staged layer is invisible, and a mismatch discards it.
    digest = hashlib.sha256()
    while True:
        try:
            response = await client.open_blob(layer.digest, received)
            try:
                # 200 to a range request: the registry starts over; skip what we have.
                skip = received if received and response.status != 206 else 0
                async for chunk in response.content.iter_chunked(CHUNK):
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk, skip = chunk[skip:], 0
                    if received + len(chunk) > layer.size:
                        chunk = chunk[: layer.size - received]
                    received += len(chunk)
                    on_bytes(received)
                    if chunk:
                        digest.update(chunk)
                        yield chunk
                    if received >= layer.size:
                        break
            finally:
                response.release()
            if received >= layer.size:
                if "sha256:" + digest.hexdigest() != layer.digest:
                    raise InvalidParameter(f"filesystem layer verification failed for digest "
                                           f"{layer.digest}")
                return
            raise Unavailable(f"blob {layer.digest}: connection closed after {received} of "
                              f"{layer.size} bytes")
        except (TimeoutError, aiohttp.ClientError, Unavailable) as exc:
            attempt += 1
            if attempt >= RETRIES:
                if isinstance(exc, MinkeError):
                    raise
                raise Unavailable(f"blob {layer.digest}: download failed after {received} of "
                                  f"{layer.size} bytes: {exc}") from exc
            log.info("download of %s broke at %d bytes (%s); resuming in %.1fs",
                     layer.digest, received, exc, delay)
            await asyncio.sleep(delay)
            delay *= 2




async def inspect_remote(ref: Reference, *, config: RegistryConfig,
                         credentials: dict[str, str] | None) -> dict[str, Any]:
    """``GET /distribution/{name}/json``: the descriptor of what ``ref`` names in its
    registry and the platforms it offers, read without pulling layers."""
    endpoint = await asyncio.to_thread(config.endpoint, ref.domain)
    async with RepositoryClient(endpoint, ref.path, Authorizer(credentials)) as client:
        raw, media, header = await _get_manifest(client, ref, ref.digest or ref.tag or "latest")
        digest = _sha256(raw)
        if (ref.digest or header) and (ref.digest or header) != digest:
            raise InvalidParameter(f"manifest verification failed for digest {digest}")
        manifest = parse_manifest(raw, media)
        if manifest.is_index:
            platforms = [dict(c.platform) for c in manifest.manifests if c.platform]
        else:
            assert manifest.config is not None
            image = json.loads(await client.read_blob(manifest.config.digest, MAX_CONFIG))
            platforms = [{k: image[k] for k in ("architecture", "os", "variant")
                          if image.get(k)}]
    return {"Descriptor": {"mediaType": manifest.media_type, "digest": digest,
                           "size": len(raw)},
            "Platforms": platforms}
