"""A writable overlay directory turned into an image layer, and that layer committed as a
new image on top of a parent: what ``docker build`` steps and ``docker commit`` share.

Owns three things and nothing else:

- ``write_layer_tar(upper, out)``: the OCI layer tar of an overlay upper directory, as
  dockerd's overlay2 driver writes it: entries in lexical walk order, mtimes truncated to
  seconds, owners numeric (no user names), only ``security.capability`` among xattrs;
  overlay whiteouts (0:0 character devices) become empty ``.wh.<name>`` files (mode 0600)
  and opaque directories (``trusted.overlay.opaque=y``) get a ``.wh..wh..opq`` entry.
- ``changes(upper, lowers)``: ``docker diff`` of that directory against the layers below
  (kind 0 modified, 1 added, 2 deleted), in Docker's order.
- ``commit_image(images, ...)``: stage the tar through ``ingest.Staging`` (so the layer's
  diff id is the sha256 of exactly the bytes kept as its blob, and its chain id the OCI
  chain id, as Docker computes them for the same bytes), write the image config (sorted
  keys, as dockerd marshals it; the image id is the sha256 of those bytes) and the image
  record with its parent, all in one commit or not at all.

The caller owns the directory: it must not change while it is read (pause a running
container first, as ``docker commit`` does) and it is left as it was.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from minke.engine.images.archive import host_arch
from minke.engine.images.changes import empty_config
from minke.engine.images.ingest import Staging
from minke.engine.images.store import ImageRecords
from minke.engine.snapshots import chain_ids
from minke.units import rfc3339
from minke.version import DOCKER_COMPAT_VERSION

if TYPE_CHECKING:
    from minke.engine.images.service import ImageService

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
KEPT_XATTRS = ("security.capability",)  # dockerd's archive keeps only this one
PIPE_BUFFER = 1 << 20

CHANGE_MODIFIED, CHANGE_ADDED, CHANGE_DELETED = 0, 1, 2


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(upper: Path, rel: str = "") -> list[tuple[str, Path, os.stat_result]]:
    """Every entry under ``upper`` as (relative name, path, lstat), each directory followed
    by its contents before its next sibling, siblings in byte order (Go's
    ``filepath.Walk``, which dockerd's archive uses)."""
    out: list[tuple[str, Path, os.stat_result]] = []
    directory = upper / rel if rel else upper
    try:
        names = sorted(os.listdir(directory), key=os.fsencode)
    except FileNotFoundError:
        return out
    for name in names:
        child = f"{rel}/{name}" if rel else name
        path = directory / name
        st = os.lstat(path)
        out.append((child, path, st))
        if stat.S_ISDIR(st.st_mode):
            out.extend(_walk(upper, child))
    return out


def write_layer_tar(upper: Path, out: BinaryIO) -> None:
    """Write the layer tar of ``upper`` (an overlay upper directory) to ``out``."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, path, st in _walk(upper):
            if _is_whiteout(st):
                parent, _, base = name.rpartition("/")
                info = tarfile.TarInfo(f"{parent}/{WHITEOUT_PREFIX}{base}".lstrip("/"))
                info.mode, info.uid, info.gid = 0o600, st.st_uid, st.st_gid
                info.mtime = int(st.st_mtime)
                tar.addfile(info)
                continue
            info = tar.gettarinfo(str(path), arcname=name)
            if info is None:
                continue  # sockets: dockerd skips them too
            info.uname = info.gname = ""
            info.mtime = int(st.st_mtime)
            for key in KEPT_XATTRS:
                try:
                    value = os.getxattr(path, key, follow_symlinks=False)
                except OSError:
                    continue
                info.pax_headers[f"SCHILY.xattr.{key}"] = value.decode("latin-1")
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if info.isdir() and _is_opaque(path):
                opq = tarfile.TarInfo(f"{name}/{WHITEOUT_OPAQUE}")
                opq.mode, opq.uid, opq.gid = st.st_mode & 0o777, st.st_uid, st.st_gid
                opq.mtime = int(st.st_mtime)
                tar.addfile(opq)


def changes(upper: Path, lowers: list[Path]) -> list[dict[str, Any]]:
    """``docker diff``: ``[{"Path": "/x", "Kind": 0|1|2}]`` for the entries of ``upper``
    over the lower directories ``lowers`` (any order). A whiteout is a deletion; an entry
    present in a lower directory is a modification, any other an addition; the contents of
    an added or opaque directory are listed too."""
    out: list[dict[str, Any]] = []
    for name, _, st in _walk(upper):
        if _is_whiteout(st):
            out.append({"Path": "/" + name, "Kind": CHANGE_DELETED})
            continue
        in_lower = any(os.path.lexists(lower / name) for lower in lowers)
        out.append({"Path": "/" + name, "Kind": CHANGE_MODIFIED if in_lower else CHANGE_ADDED})
    return out


def lower_dirs(images: ImageService, image_id: str | None) -> list[Path]:
    """The layer directories of ``image_id``, top first (for ``changes``)."""
    if not image_id:
        return []
    record = images.records.image(image_id) or {"chain_ids": []}
    return [images.snapshots.layer_path(c) for c in reversed(record["chain_ids"])]


def _stage_upper(staging: Staging, upper: Path, parent_chain: str | None) -> dict[str, Any]:
    """Stream the tar of ``upper`` through a pipe into ``staging`` (which keeps it as the
    layer blob and extracts it as the layer directory); nothing is spooled to disk."""
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=PIPE_BUFFER) as sink:
                write_layer_tar(upper, sink)
        except BrokenPipeError:
            pass  # the consumer failed first; its error is the one reported
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            errors.append(exc)

    producer = threading.Thread(target=produce, name="layerdiff", daemon=True)
    producer.start()
    try:
        with os.fdopen(read_fd, "rb", buffering=PIPE_BUFFER) as source:
            doc = staging.stage_layer(source, parent_chain)
    finally:
        producer.join()
    if errors:
        # The tar was cut short: whatever staged from it is incomplete.
        raise errors[0]
    return doc


def image_config(
    parent_config: Mapping[str, Any] | None,
    *,
    config: Mapping[str, Any],
    history: Mapping[str, Any],
    diff_id: str | None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The new image's config document: the parent's rootfs and history extended by one
    entry (``empty_layer`` when ``diff_id`` is None), ``config`` as its container config,
    ``fields`` (``parent``, ``container``, ``container_config``, ``author``, ``comment``,
    ``docker_version``...) as top-level keys."""
    parent_config = parent_config or {}
    created = history.get("created") or rfc3339()
    entry = {"created": created, **{k: v for k, v in history.items() if k != "created" and v}}
    if diff_id is None:
        entry["empty_layer"] = True
    diff_ids = list((parent_config.get("rootfs") or {}).get("diff_ids") or [])
    if diff_id is not None:
        diff_ids.append(diff_id)
    doc: dict[str, Any] = {
        "architecture": parent_config.get("architecture") or host_arch(),
        "config": dict(config),
        "container_config": empty_config(),
        "created": created,
        "docker_version": DOCKER_COMPAT_VERSION,
        "history": [*(parent_config.get("history") or []), entry],
        "os": parent_config.get("os") or "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if parent_config.get("variant"):
        doc["variant"] = parent_config["variant"]
    doc.update({k: v for k, v in (fields or {}).items() if v is not None})
    return doc


def commit_image(
    images: ImageService,
    *,
    parent: str | None,
    upper: Path | None,
    config: Mapping[str, Any],
    history: Mapping[str, Any],
    fields: Mapping[str, Any] | None = None,
    cache_key: str = "",
) -> str:
    """Commit a new image over ``parent`` (an image id, None for ``scratch``) and return
    its id. Blocking: call it from a worker thread.

    ``upper``: the directory whose contents become the new layer; None makes no layer (an
    ``empty_layer`` history entry, as ENV or CMD steps). ``config``: the image's container
    config (Docker's ``Config``: Env, Cmd, Entrypoint, WorkingDir, User, Labels...).
    ``history``: the new history entry (``created_by``, ``comment``, ``author``;
    ``created`` defaults to now and is also the image's ``created``). ``fields``: extra
    top-level config keys; ``parent`` is filled in from ``parent``. ``cache_key`` is kept
    in the image record for the builder's cache (see ``build/cache.py``).

    Raises NoSuchImage for an unknown parent. Nothing is left behind on failure.
    """
    parent_config = images.config(parent) if parent else None
    parent_chain = images.top_chain_id(parent) if parent else None
    staging: Staging = images.staging()
    try:
        diff_id = None
        if upper is not None:
            diff_id = _stage_upper(staging, upper, parent_chain)["diff_id"]
        extra = {"parent": parent, **(fields or {})} if parent else dict(fields or {})
        doc = image_config(
            parent_config, config=config, history=history, diff_id=diff_id, fields=extra
        )
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        image_id = staging.stage_blob(raw)
        record = {
            "id": image_id,
            "diff_ids": doc["rootfs"]["diff_ids"],
            "chain_ids": chain_ids(doc["rootfs"]["diff_ids"]),
            "created": doc["created"],
            "parent": parent or "",
            "last_tag_time": "",
        }
        if cache_key:
            record["build_cache_key"] = cache_key

        def write_records() -> None:
            staged = {d["chain_id"]: d for d in staging.layer_docs}
            known = {**images.records.layers(), **staged}
            record["size"] = sum(known[c]["size"] for c in record["chain_ids"] if c in known)
            old = images.records.image(image_id)
            if old is not None:
                # The same bytes committed again (same parent, same second): one image.
                record["last_tag_time"] = old.get("last_tag_time") or ""
            with images.records.db.transaction() as conn:
                for layer in staged.values():
                    ImageRecords.put_layer(conn, layer)
                ImageRecords.put_image(conn, record)

        staging.commit(write_records)
        return image_id
    finally:
        staging.discard()
