"""``docker rmi`` and ``docker image prune`` with dockerd's rules (daemon/images/image_delete.go
and image_prune.go): which reference goes, when an image may go, and the conflict texts.

Called by ``ImageService`` with its lock held. Records change in one transaction first;
layer directories and blobs are removed after it commits, so a crash in between leaves
only unreferenced files for the start-up sweep, never a record pointing at nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minke.engine.images import views
from minke.engine.images.reference import Reference, parse, parse_tagged
from minke.engine.images.store import ImageRecords
from minke.errors import Conflict, InvalidParameter, MinkeError

if TYPE_CHECKING:
    from minke.engine.images.service import ImageService

log = logging.getLogger(__name__)


def short(image_id: str) -> str:
    """Docker's ``stringid.TruncateID``."""
    return image_id.removeprefix("sha256:")[:12]


@dataclass
class _Conflict:
    message: str
    hard: bool = False
    used: bool = False

    def error(self, image_id: str) -> Conflict:
        forced = "cannot be forced" if self.hard else "must be forced"
        return Conflict(f"conflict: unable to delete {short(image_id)} ({forced}) - {self.message}")


class Deleter:
    def __init__(self, service: ImageService) -> None:
        self.svc = service

    # -- rmi ------------------------------------------------------------------------------

    def delete(self, name: str, *, force: bool, prune: bool) -> list[dict[str, str]]:
        svc = self.svc
        image_id = svc.resolve(name)
        refs = [parse(r) for r in svc.records.refs_of(image_id)]
        records: list[dict[str, str]] = []
        hex_ = image_id.removeprefix("sha256:")
        by_id = hex_.startswith(name.removeprefix("sha256:")) and (
            name.startswith("sha256:") or svc.records.lookup(_as_ref(name)) != image_id
        )
        quiet = False
        if not by_id:
            given = parse_tagged(name)
            if given.digest:
                given = Reference(given.domain, given.path, None, given.digest)
            if not force and _single_reference(refs):
                users = svc.containers_using(image_id)
                if users:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{name}" (must force)'
                        f" - container {short(users[0])} is using its referenced image "
                        f"{short(image_id)}"
                    )
            self._untag(image_id, [given], records)
            remaining = [parse(r) for r in svc.records.refs_of(image_id)]
            if given.tag and not any(r.tag and r.name == given.name for r in remaining):
                # The repository's last tag went: its digest refs go too, as in dockerd,
                # whatever references of other repositories remain.
                same_repo = [r for r in remaining if r.digest and r.name == given.name]
                if same_repo:
                    self._untag(image_id, same_repo, records)
                    remaining = [r for r in remaining if r not in same_repo]
            if remaining:
                return records
            quiet = True
        elif _single_reference(refs):
            conflict = self._conflict(image_id, hard=True, soft=not force, references=False)
            if conflict is not None:
                raise conflict.error(image_id)
            self._untag(image_id, refs, records)
        self._delete_image(image_id, records, force=force, prune=prune, quiet=quiet)
        return records

    def _conflict(
        self, image_id: str, *, hard: bool, soft: bool, references: bool = True
    ) -> _Conflict | None:
        svc = self.svc
        if hard and any(d.get("parent") == image_id for d in svc.records.images()):
            return _Conflict("image has dependent child images", hard=True)
        if soft and references and svc.records.refs_of(image_id):
            return _Conflict("image is referenced in multiple repositories")
        if soft:
            # minke's check does not say whether a container runs, so every user is a soft
            # conflict; forcing keeps the layers the containers sit on (see _unused_layers).
            users = svc.containers_using(image_id)
            if users:
                return _Conflict(
                    f"image is being used by stopped container {short(users[0])}", used=True
                )
        return None

    def _delete_image(
        self, image_id: str, records: list[dict[str, str]], *, force: bool, prune: bool, quiet: bool
    ) -> None:
        svc = self.svc
        conflict = self._conflict(image_id, hard=True, soft=not force)
        if conflict is not None:
            dangling = not svc.records.refs_of(image_id)
            if quiet and (not dangling or conflict.used):
                return
            raise conflict.error(image_id)
        doc = svc.records.image(image_id) or {}
        self._untag(image_id, [parse(r) for r in svc.records.refs_of(image_id)], records)
        removed_layers = self._unused_layers(image_id)
        layer_docs = svc.records.layers()
        removed = [(c, layer_docs[c]["diff_id"] if c in layer_docs else c) for c in removed_layers]
        with svc.records.db.transaction() as conn:
            ImageRecords.delete_image(conn, image_id)
            for chain in removed_layers:
                ImageRecords.delete_layer(conn, chain)
        svc.events.publish("image", "delete", image_id, {"name": image_id})
        records.append({"Deleted": image_id})
        records.extend({"Deleted": chain} for chain in removed_layers)
        self._remove_files(image_id, removed)
        parent = doc.get("parent")
        if prune and parent and svc.records.image(parent):
            self._delete_image(parent, records, force=False, prune=True, quiet=True)

    def _unused_layers(self, image_id: str) -> list[str]:
        """Chain ids of ``image_id`` that no other image and no container snapshot uses,
        top first."""
        svc = self.svc
        keep: set[str] = set()
        for doc in svc.records.images():
            if doc["id"] != image_id:
                keep.update(doc["chain_ids"])
        for parent in svc.snapshots.snapshots().values():
            while parent:
                keep.add(parent)
                parent = (
                    svc.snapshots.layer_parent(parent) if svc.snapshots.has_layer(parent) else None
                )
        mine = (svc.records.image(image_id) or {}).get("chain_ids", [])
        return [c for c in reversed(mine) if c not in keep]

    def _remove_files(self, image_id: str, removed: list[tuple[str, str]]) -> None:
        """Files of a deleted image: its config blob, its unused layers (``(chain id, diff
        id)`` pairs) and the layer blobs no remaining layer shares."""
        svc = self.svc
        svc._configs.pop(image_id, None)
        svc.content.delete(image_id)
        for chain, _ in removed:
            try:
                svc.snapshots.remove_layer(chain)
            except OSError as exc:  # records are gone already; the sweep retries at start-up
                log.warning("removing layer %s: %s", chain, exc)
        in_use = {d["diff_id"] for d in svc.records.layers().values()}
        for _, diff_id in removed:
            if diff_id not in in_use:
                svc.content.delete(diff_id)

    def _untag(self, image_id: str, refs: list[Reference], records: list[dict[str, str]]) -> None:
        svc = self.svc
        for ref in refs:
            with svc.records.db.transaction() as conn:
                ImageRecords.delete_tag(conn, str(ref))
            svc.events.publish("image", "untag", image_id, {"name": image_id})
            records.append({"Untagged": ref.familiar()})

    # -- prune ----------------------------------------------------------------------------

    def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        svc = self.svc
        for key in filters:
            if key not in ("dangling", "label", "label!", "until"):
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling_only = True
        if filters.get("dangling"):
            value = filters["dangling"][-1].lower()
            if value not in ("true", "false", "1", "0"):
                raise InvalidParameter(f"invalid filter 'dangling={filters['dangling'][-1]}'")
            dangling_only = value in ("true", "1")
        until = min((views.parse_until(v) for v in filters.get("until", [])), default=None)
        docs = svc.records.images()
        parents = {d.get("parent") for d in docs if d.get("parent")}
        sizes = {c: d["size"] for c, d in svc.records.layers().items()}
        deleted: list[dict[str, str]] = []
        for doc in docs:
            image_id = doc["id"]
            if image_id in parents or svc.records.image(image_id) is None:
                continue
            config = svc.config(image_id)
            if until is not None and views.parse_time(config.get("created", "")) >= until:
                continue
            labels = (config.get("config") or {}).get("Labels") or {}
            if not views.labels_match(labels, filters.get("label", [])):
                continue
            if not views.labels_match(labels, filters.get("label!", []), negate=True):
                continue
            refs = [parse(r) for r in svc.records.refs_of(image_id)]
            if refs and dangling_only and any(r.tag for r in refs):
                continue
            targets = [str(r) for r in refs] or [image_id]
            for target in targets:
                try:
                    deleted.extend(self.delete(target, force=False, prune=True))
                except MinkeError as exc:
                    log.debug("prune: keeping %s: %s", target, exc)
        reclaimed = sum(sizes.get(d["Deleted"], 0) for d in deleted if "Deleted" in d)
        if deleted:
            svc.events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _single_reference(refs: list[Reference]) -> bool:
    """dockerd's ``isSingleReference``: at most one tag, and every reference in one
    repository; False for none."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if not r.digest]
    if len(tags) > 1:
        return False
    digest_repos = {r.name for r in refs if r.digest}
    single = tags[0] if tags else refs[0]
    return len(digest_repos) == 1 and single.name in digest_repos


def _as_ref(name: str) -> str:
    try:
        return str(parse_tagged(name))
    except InvalidParameter:
        return ""
