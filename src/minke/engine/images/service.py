"""``ImageService``: the engine's images: lookup, tags, inspect/list/history, delete/prune,
and import/load/save, over the content store, the overlay snapshotter and the records.

On disk, under ``root`` (``<data-root>/image``)::

    content/blobs/sha256/<hex>   configs (id = digest of the bytes kept verbatim) and the
                                 uncompressed layer tars (digest = diff id)
    overlay2/                    the snapshotter: layers/<chain hex>/diff, l/, snapshots/
    tmp/                         staging of archives being loaded; emptied at start-up

Writes go in one order: blobs and layer directories first, then one database transaction;
deletes the other way round. A crash between steps leaves only unreferenced files, which
the start-up sweep removes.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from minke.engine.content import LocalContentStore
from minke.engine.events import EventBus
from minke.engine.images import archive, views
from minke.engine.images._deletion import Deleter
from minke.engine.images._streams import AsyncSink, AsyncSource
from minke.engine.images.changes import apply_changes, empty_config
from minke.engine.images.ingest import Staging
from minke.engine.images.reference import Reference, check_tag, is_id_like, parse, parse_tagged
from minke.engine.images.registry import (
    DistributionMetadata,
    PullResult,
    PushResult,
    RegistryConfig,
    parse_platform,
)
from minke.engine.images.store import ImageRecords
from minke.engine.snapshots import OverlaySnapshotter, chain_ids
from minke.engine.state import StateDB
from minke.errors import InvalidParameter, NoSuchImage, NotFound
from minke.units import rfc3339

log = logging.getLogger(__name__)

READ_BUFFER = 1 << 20


class ImageService:
    """Images on one host. Thread-safe: mutations take ``_lock``; blocking work of the
    async methods runs in worker threads. ``snapshots`` is the overlay snapshotter the
    container manager uses for container root filesystems."""

    def __init__(self, *, root: Path, db: StateDB, events: EventBus) -> None:
        self.root = root
        self.records = ImageRecords(db)
        self.events = events
        self.content = LocalContentStore(root / "content")
        self.snapshots = OverlaySnapshotter(root / "overlay2")
        shutil.rmtree(root / "tmp", ignore_errors=True)
        (root / "tmp").mkdir(parents=True)
        self._lock = threading.Lock()
        self._configs: dict[str, dict[str, Any]] = {}
        self._in_use: Callable[[str], list[str]] = lambda image_id: []
        self._deleter = Deleter(self)
        # Registry settings (the daemon replaces them with its flags) and push/pull hints.
        self.registries = RegistryConfig()
        self.distribution = DistributionMetadata(root / "distribution")
        self._sweep()

    # -- lookup ---------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        hex_ = name.removeprefix("sha256:")
        if len(hex_) == 64 and is_id_like(hex_) and self.records.image("sha256:" + hex_):
            return "sha256:" + hex_
        ref: Reference | None = None
        if name and not name.startswith("sha256:"):
            try:
                ref = parse_tagged(name)
            except InvalidParameter:
                ref = None
        if ref is not None:
            # A digest reference names the manifest whatever tag comes with it.
            key = Reference(ref.domain, ref.path, None, ref.digest) if ref.digest else ref
            found = self.records.lookup(str(key))
            if found:
                return found
        if is_id_like(name):
            matches = [i for i in self.records.image_ids() if i[7:].startswith(hex_)]
            if len(matches) == 1:
                return matches[0]
        raise NoSuchImage(ref.familiar() if ref is not None else name)

    def config(self, image_id: str) -> dict[str, Any]:
        cached = self._configs.get(image_id)
        if cached is None:
            if self.records.image(image_id) is None:
                raise NoSuchImage(image_id)
            cached = self._configs[image_id] = json.loads(self.content.read(image_id))
        return cached

    def _doc(self, image_id: str) -> dict[str, Any]:
        doc = self.records.image(image_id)
        if doc is None:
            raise NoSuchImage(image_id)
        return doc

    def top_chain_id(self, image_id: str) -> str | None:
        chains = self._doc(image_id)["chain_ids"]
        return chains[-1] if chains else None

    def set_in_use_check(self, check: Callable[[str], list[str]]) -> None:
        self._in_use = check

    def containers_using(self, image_id: str) -> list[str]:
        return list(self._in_use(image_id))

    # -- views ----------------------------------------------------------------------------

    def _tags_and_digests(self, refs: list[str]) -> tuple[list[str], list[str]]:
        parsed = [parse(r) for r in refs]
        return ([r.familiar() for r in parsed if r.tag], [r.familiar() for r in parsed if r.digest])

    def list(
        self,
        *,
        all: bool = False,
        filters: dict[str, list[str]] | None = None,
        digests: bool = False,
    ) -> list[dict[str, Any]]:
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "label", "reference", "before", "since"):
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling = _dangling_filter(filters)
        before = min(
            (self._created(self.resolve(n)) for n in filters.get("before", [])), default=None
        )
        since = max(
            (self._created(self.resolve(n)) for n in filters.get("since", [])), default=None
        )
        docs = self.records.images()
        all_refs = self.records.all_refs()
        parents = {d.get("parent") for d in docs if d.get("parent")}
        out = []
        for doc in docs:
            config = self.config(doc["id"])
            created = views.parse_time(config.get("created", ""))
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            labels = (config.get("config") or {}).get("Labels") or {}
            if not views.labels_match(labels, filters.get("label", [])):
                continue
            refs = [parse(r) for r in all_refs.get(doc["id"], [])]
            if "reference" in filters:
                refs = [
                    r
                    for r in refs
                    if any(views.reference_matches(p, r) for p in filters["reference"])
                ]
            tags = [r.familiar() for r in refs if r.tag]
            repo_digests = [r.familiar() for r in refs if r.digest]
            if not tags and not repo_digests:
                if "reference" in filters or dangling is False:
                    continue
                if not all and doc["id"] in parents:
                    continue  # an intermediate image, hidden as dockerd hides them
                tags, repo_digests = ["<none>:<none>"], ["<none>@<none>"]
            elif dangling is True and tags:
                continue
            out.append(views.summary(doc, config, tags, repo_digests))
        out.sort(key=lambda s: s["Created"], reverse=True)
        return out

    def _created(self, image_id: str) -> float:
        return views.parse_time(self.config(image_id).get("created", ""))

    def inspect(self, name: str) -> dict[str, Any]:
        image_id = self.resolve(name)
        doc = self._doc(image_id)
        tags, digests = self._tags_and_digests(self.records.refs_of(image_id))
        return views.inspect(doc, self.config(image_id), tags, digests, self._graph(doc))

    def _graph(self, doc: dict[str, Any]) -> dict[str, str]:
        dirs = [str(self.snapshots.root / "layers" / c[7:]) for c in doc["chain_ids"]]
        if not dirs:
            return {}
        graph = {
            "MergedDir": dirs[-1] + "/merged",
            "UpperDir": dirs[-1] + "/diff",
            "WorkDir": dirs[-1] + "/work",
        }
        if len(dirs) > 1:
            graph["LowerDir"] = ":".join(d + "/diff" for d in reversed(dirs[:-1]))
        return graph

    def history(self, name: str) -> list[dict[str, Any]]:
        image_id = self.resolve(name)
        doc = self._doc(image_id)
        layers = self.records.layers()
        sizes = [layers[c]["size"] if c in layers else 0 for c in doc["chain_ids"]]
        tags, _ = self._tags_and_digests(self.records.refs_of(image_id))
        return views.history(doc, self.config(image_id), sizes, tags)

    # -- tags and deletion ----------------------------------------------------------------

    def tag(self, name: str, repo: str, tag: str | None) -> None:
        image_id = self.resolve(name)
        ref = parse(repo)
        if ref.digest:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        ref = ref.with_tag(check_tag(tag)) if tag else ref.tagged_or_latest()
        with self._lock, self.records.db.transaction() as conn:
            ImageRecords.set_tag(conn, str(ref), image_id)
            doc = self._doc(image_id)
            doc["last_tag_time"] = rfc3339()
            ImageRecords.put_image(conn, doc)
        self.events.publish("image", "tag", image_id, {"name": ref.familiar()})

    def delete(
        self, name: str, *, force: bool = False, noprune: bool = False
    ) -> list[dict[str, str]]:
        with self._lock:
            return self._deleter.delete(name, force=force, prune=not noprune)

    def prune(self, *, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        with self._lock:
            return self._deleter.prune(filters or {})

    # -- import, load, save ---------------------------------------------------------------

    async def import_rootfs(
        self,
        chunks: AsyncIterator[bytes],
        *,
        repo: str | None = None,
        tag: str | None = None,
        changes: list[str] | None = None,
        message: str = "",
    ) -> str:
        ref = None
        if repo:
            ref = parse(repo)
            if ref.digest:
                raise InvalidParameter("cannot import digest reference")
            ref = ref.with_tag(check_tag(tag)) if tag else ref.tagged_or_latest()
        container_config = apply_changes(empty_config(), changes or [])
        source = AsyncSource(chunks, asyncio.get_running_loop())
        image_id = await asyncio.to_thread(
            self._import_sync, source, container_config, message or "Imported from -"
        )
        self.events.publish("image", "import", image_id, {"name": image_id})
        if ref is not None:
            self.tag(image_id, str(ref), None)
        return image_id

    def _import_sync(
        self, source: io.RawIOBase, container_config: dict[str, Any], message: str
    ) -> str:
        staging = Staging(self.content, self.snapshots, self._lock)
        try:
            reader = io.BufferedReader(source, READ_BUFFER)
            diff_ids = []
            if reader.peek(1):  # an empty body imports an image without layers
                diff_ids.append(staging.stage_layer(reader, None)["diff_id"])  # type: ignore[arg-type]
            created = rfc3339()
            config = {
                "architecture": archive.host_arch(),
                "comment": message,
                "config": container_config,
                "container_config": empty_config(),
                "created": created,
                "history": [{"created": created, "comment": message}],
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
            raw = json.dumps(config, separators=(",", ":")).encode()
            image_id = staging.stage_blob(raw)
            staging.commit(lambda: self._write_images(staging, [(image_id, raw, [])]))
            return image_id
        finally:
            staging.discard()

    async def load(self, chunks: AsyncIterator[bytes]) -> list[str]:
        source = AsyncSource(chunks, asyncio.get_running_loop())
        lines, loaded = await asyncio.to_thread(self._load_sync, source)
        for image_id, refs in loaded:
            self.events.publish("image", "load", image_id, {"name": image_id})
            for ref in refs:
                self.events.publish("image", "tag", image_id, {"name": ref.familiar()})
        return lines

    def _load_sync(
        self, source: io.RawIOBase
    ) -> tuple[list[str], list[tuple[str, list[Reference]]]]:
        staging_dir = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="load-"))
        staging = Staging(self.content, self.snapshots, self._lock)
        try:
            staged = archive.stage_archive(
                io.BufferedReader(source, READ_BUFFER),  # type: ignore[arg-type]
                staging_dir,
            )
            batch: list[tuple[str, bytes, list[Reference]]] = []
            for image in archive.images_in(staged):
                image_id = staging.stage_blob(image.config)
                self._stage_layers(staging, image)
                refs = [parse_tagged(t) for t in image.tags]
                batch.append((image_id, image.config, refs))
            lines: list[str] = []
            for image_id, _, refs in batch:
                for ref in refs:
                    old = self.records.lookup(str(ref))
                    if old and old != image_id:
                        lines.append(
                            f"The image {ref.familiar()} already exists, renaming the "
                            f"old one with ID {old} to empty string"
                        )
                    lines.append(f"Loaded image: {ref.familiar()}")
                if not refs:
                    lines.append(f"Loaded image ID: {image_id}")
            staging.commit(lambda: self._write_images(staging, batch))
            return lines, [(i, r) for i, _, r in batch]
        finally:
            staging.discard()
            archive.remove_staging(staging_dir)

    def _stage_layers(self, staging: Staging, image: archive.ArchiveImage) -> None:
        diff_ids = _diff_ids(image.config)
        if len(diff_ids) != len(image.layers):
            raise InvalidParameter(
                f"invalid archive: {len(image.layers)} layers for {len(diff_ids)} diff ids"
            )
        chains = chain_ids(diff_ids)
        for i, (path, diff_id) in enumerate(zip(image.layers, diff_ids, strict=True)):
            if staging.has_layer(chains[i], diff_id):
                continue
            with open(path, "rb") as f:
                staging.stage_layer(f, chains[i - 1] if i else None, expected=diff_id)

    def _write_images(
        self, staging: Staging, batch: list[tuple[str, bytes, list[Reference]]]
    ) -> None:
        """The database half of a commit; runs under the lock, inside ``Staging.commit``."""
        staged_layers = {d["chain_id"]: d for d in staging.layer_docs}
        existing = self.records.layers()
        with self.records.db.transaction() as conn:
            for doc in staged_layers.values():
                ImageRecords.put_layer(conn, doc)
            for image_id, raw, refs in batch:
                diff_ids = _diff_ids(raw)
                chains = chain_ids(diff_ids)
                known = {**existing, **staged_layers}
                config = json.loads(raw)
                old = self.records.image(image_id) or {}
                ImageRecords.put_image(
                    conn,
                    {
                        "id": image_id,
                        "diff_ids": diff_ids,
                        "chain_ids": chains,
                        "size": sum(known[c]["size"] for c in chains if c in known),
                        "created": config.get("created", ""),
                        "parent": old.get("parent", ""),
                        "last_tag_time": old.get("last_tag_time") or "",
                    },
                )
                for ref in refs:
                    ImageRecords.set_tag(conn, str(ref), image_id)

    def save(self, names: list[str], *, format: str = "docker") -> AsyncIterator[bytes]:
        """The archive of ``names``; names are resolved now, so an unknown one raises
        NoSuchImage before any byte is sent. ``format="oci"`` writes a plain OCI layout."""
        if format not in ("docker", "oci"):
            raise InvalidParameter(f"invalid format {format!r}: expected docker or oci")
        plan = self._save_plan(names)
        oci_only = format == "oci"

        async def stream() -> AsyncIterator[bytes]:
            sink = AsyncSink(asyncio.get_running_loop())
            async for chunk in sink.chunks(
                lambda out: archive.write_archive(out, plan, self.content, oci_only=oci_only)  # type: ignore[arg-type]
            ):
                yield chunk
            for item in plan:
                self.events.publish("image", "save", item.image_id, {"name": item.image_id})

        return stream()

    def _save_plan(self, names: list[str]) -> list[archive.SaveImage]:
        plan: dict[str, archive.SaveImage] = {}
        for name in names:
            refs: list[tuple[str, Reference | None]] = []
            try:
                ref = parse(name) if not is_id_like(name) or ":" in name else None
            except InvalidParameter:
                ref = None
            if ref is not None and ref.tag is None and ref.digest is None:
                # A bare repository name saves every tag of it, as `docker save repo` does.
                for image_id, image_refs in self.records.all_refs().items():
                    for r in map(parse, image_refs):
                        if r.name == ref.name and r.tag:
                            refs.append((image_id, r))
            if not refs:
                image_id = self.resolve(name)
                tagged = ref.tagged_or_latest() if ref is not None and not ref.digest else None
                if tagged is not None and self.records.lookup(str(tagged)) != image_id:
                    tagged = None
                refs.append((image_id, tagged))
            for image_id, r in refs:
                item = plan.setdefault(
                    image_id, archive.SaveImage(image_id, list(self._doc(image_id)["diff_ids"]), [])
                )
                if r is not None and r not in item.refs:
                    item.refs.append(r)
        return list(plan.values())

    # -- registries -----------------------------------------------------------------------
    # The work is in ``registry/``; these entry points resolve names and hold the commit.

    def staging(self) -> Staging:
        return Staging(self.content, self.snapshots, self._lock)

    def image_doc(self, image_id: str) -> dict[str, Any]:
        return self._doc(image_id)

    def commit_image(self, staging: Staging, raw_config: bytes, refs: list[Reference]) -> str:
        """Publish an image staged from verified blobs (a pull): its config, layers, record
        and ``refs`` in one step; on failure nothing of it is visible."""
        image_id = staging.stage_blob(raw_config)
        staging.commit(lambda: self._write_images(staging, [(image_id, raw_config, refs)]))
        return image_id

    def add_repo_digest(self, ref: Reference, image_id: str) -> None:
        """Record ``repo@digest`` (a pushed manifest) as a RepoDigest of ``image_id``."""
        with self._lock, self.records.db.transaction() as conn:
            ImageRecords.set_tag(conn, str(ref), image_id)

    async def pull(self, name: str, *, tag: str | None = None, platform: str | None = None,
                   credentials: dict[str, str] | None = None,
                   progress: Callable[[dict[str, Any]], None] | None = None) -> PullResult:
        """``docker pull name[:tag|@digest]``; ``progress`` receives Docker's messages."""
        from minke.engine.images.registry import pull as puller

        ref = parse(name)
        if tag:
            ref = (Reference(ref.domain, ref.path, None, tag) if tag.startswith("sha256:")
                   else ref.with_tag(check_tag(tag)))
        ref = ref.tagged_or_latest()
        return await puller.pull(self, ref, config=self.registries, credentials=credentials,
                                 platform=parse_platform(platform),
                                 progress=progress or (lambda m: None))

    async def push(self, name: str, *, tag: str | None = None,
                   credentials: dict[str, str] | None = None,
                   progress: Callable[[dict[str, Any]], None] | None = None,
                   chunk_size: int | None = None) -> list[PushResult]:
        """``docker push name[:tag]``; without a tag, every tag of the repository."""
        from minke.engine.images.registry import push as pusher

        ref = parse(name)
        if ref.digest:
            raise InvalidParameter("cannot push a digest reference")
        if tag:
            ref = ref.with_tag(check_tag(tag))
        targets: list[tuple[Reference, str]] = []
        if ref.tag:
            image_id = self.records.lookup(str(ref))
            if image_id is None:
                raise NotFound(f"An image does not exist locally with the tag: "
                               f"{ref.familiar_name}")
            targets.append((ref, image_id))
        else:
            for image_id, refs in self.records.all_refs().items():
                targets += [(r, image_id) for r in map(parse, refs)
                            if r.name == ref.name and r.tag]
            if not targets:
                raise NotFound(f"An image does not exist locally with the tag: "
                               f"{ref.familiar_name}")
            targets.sort(key=lambda t: t[0].tag or "")
        out = progress or (lambda m: None)
        out({"status": f"The push refers to repository [{ref.name}]"})
        return [await pusher.push(self, r, image_id, config=self.registries,
                                  credentials=credentials, progress=out, chunk_size=chunk_size)
                for r, image_id in targets]

    async def login(self, credentials: dict[str, str]) -> str:
        from minke.engine.images.registry.login import login

        return await login(self.registries, credentials)

    async def inspect_remote(self, name: str,
                             credentials: dict[str, str] | None = None) -> dict[str, Any]:
        from minke.engine.images.registry.pull import inspect_remote

        return await inspect_remote(parse_tagged(name), config=self.registries,
                                    credentials=credentials)

    # -- start-up -------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Remove layers and blobs no record refers to: what a crash between the file
        step and the database step of an import, load or delete leaves behind."""
        layers = self.records.layers()
        for chain in self.snapshots.layers():
            if chain not in layers:
                log.info("removing unreferenced layer %s", chain)
                self.snapshots.remove_layer(chain)
        self.snapshots.sweep()
        wanted = set(self.records.image_ids()) | {d["diff_id"] for d in layers.values()}
        for digest in self.content.list():
            if digest not in wanted:
                self.content.delete(digest)


def _diff_ids(raw: bytes) -> list[str]:
    try:
        config = json.loads(raw)
        diff_ids = config["rootfs"]["diff_ids"] or []
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("invalid image config: no rootfs.diff_ids") from None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidParameter("invalid image config: rootfs.diff_ids is not a list")
    return diff_ids


def _dangling_filter(filters: dict[str, list[str]]) -> bool | None:
    values = filters.get("dangling")
    if not values:
        return None
    value = values[-1].lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidParameter(f"invalid filter 'dangling={values[-1]}'")
