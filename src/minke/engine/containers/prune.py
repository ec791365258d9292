"""``docker container prune``: remove every container that is not running, as Docker does
(``created`` ones included, ``running``, ``paused`` and ``restarting`` ones kept), with the
``until`` and ``label``/``label!`` filters, reporting the bytes of the removed containers'
writable layers and publishing Docker's ``prune`` event."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke.engine.containers.views import parse_time
from minke.engine.events import EventBus
from minke.engine.fsutil import directory_size
from minke.engine.images.views import labels_match, parse_until
from minke.errors import InvalidParameter, MinkeError, NotFound

if TYPE_CHECKING:
    from minke.engine.containers.service import ContainerService

log = logging.getLogger(__name__)
PRUNE_FILTERS = ("until", "label", "label!")


def prunable(record: dict[str, Any], filters: dict[str, list[str]], until: float | None) -> bool:
    state = record["State"]
    if state["Running"] or state["Restarting"] or state["Status"] == "removing":
        return False
    if until is not None and parse_time(record["Created"]) > until:
        return False
    labels = record["Config"].get("Labels") or {}
    return labels_match(labels, filters.get("label", [])) and labels_match(
        labels, filters.get("label!", []), negate=True)


async def prune(containers: ContainerService, events: EventBus,
                filters: dict[str, list[str]]) -> dict[str, Any]:
    for key in filters:
        if key not in PRUNE_FILTERS:
            raise InvalidParameter(f"invalid filter '{key}'")
    until = min((parse_until(v) for v in filters.get("until", [])), default=None)
    deleted: list[str] = []
    reclaimed = 0
    for record in containers.all():
        if not prunable(record, filters, until):
            continue
        upper = Path(record["GraphDriver"]["Data"].get("UpperDir") or "/nonexistent")
        size = await asyncio.to_thread(directory_size, upper)
        try:
            await containers.remove(record["Id"])
        except NotFound:
            continue
        except MinkeError as exc:
            log.info("prune: keeping %s: %s", record["Id"][:12], exc)
            continue
        deleted.append(record["Id"])
        reclaimed += size
    events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}
