"""``docker commit``: a container's changes as a new image on top of its image.

Docker's rules (moby ``daemon/commit.go``): the new image's config is the request's config
(or, when none is sent, as the docker CLI does, the container's own ``Config``) with the
``--change`` instructions applied and then merged with the container's config field by
field (``merge``); the container is paused for the duration unless ``pause=false``; the
history entry's ``created_by`` is the container's command; the image records ``container``
and ``container_config``. The layer itself (upper directory → tar → layer, image record) is
``images.layerdiff.commit_image``, shared with the builder.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke.engine.containers.config import merge_env
from minke.engine.containers.health import merge as merge_healthcheck
from minke.engine.events import EventBus
from minke.engine.images import layerdiff
from minke.engine.images.changes import apply_changes
from minke.engine.images.reference import check_tag, parse
from minke.errors import Conflict, InvalidParameter

if TYPE_CHECKING:
    from minke.engine.containers.service import ContainerService

Config = dict[str, Any]


def merge(user: Config, container: Config) -> Config:
    """moby's ``merge(userConf, imageConf)``: what ``user`` leaves empty comes from
    ``container``; Env, ExposedPorts, Labels and Volumes are unions (``user`` wins)."""
    out = copy.deepcopy(user)
    if not out.get("User"):
        out["User"] = container.get("User") or ""
    out["ExposedPorts"] = {**(container.get("ExposedPorts") or {}),
                           **(out.get("ExposedPorts") or {})} or None
    out["Env"] = merge_env(container.get("Env") or [], out.get("Env") or []) or None
    out["Labels"] = {**(container.get("Labels") or {}), **(out.get("Labels") or {})}
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = container.get("Cmd")
            if "ArgsEscaped" in container:
                out["ArgsEscaped"] = container["ArgsEscaped"]
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = container.get("Entrypoint")
    if container.get("Healthcheck") is not None:
        out["Healthcheck"] = merge_healthcheck(out.get("Healthcheck"), container["Healthcheck"])
    if not out.get("WorkingDir"):
        out["WorkingDir"] = container.get("WorkingDir") or ""
    out["Volumes"] = {**(out.get("Volumes") or {}), **(container.get("Volumes") or {})} or None
    if not out.get("StopSignal") and container.get("StopSignal"):
        out["StopSignal"] = container["StopSignal"]
    return out


async def commit(
    containers: ContainerService, images: Any, events: EventBus, ref: str, *,
    repo: str = "", tag: str = "", author: str = "", comment: str = "",
    changes: list[str] | None = None, config: Config | None = None, pause: bool = True,
) -> str:
    """Commit the container ``ref``; returns the new image id (tagged ``repo:tag`` if
    ``repo`` is given)."""
    record = containers.get(ref)
    reference = None
    if repo:
        reference = parse(repo)
        if reference.digest:
            raise InvalidParameter("cannot commit to digest reference")
        reference = reference.with_tag(check_tag(tag)) if tag else reference.tagged_or_latest()
    elif tag:
        raise InvalidParameter("tag is specified without a repository")
    if record["State"]["Status"] == "removing":
        raise Conflict(f"You cannot commit container {record['Id']} which is being removed")
    base = copy.deepcopy(config) if config else copy.deepcopy(record["Config"])
    new_config = merge(apply_changes(base, changes or []), record["Config"])
    upper = Path(record["GraphDriver"]["Data"]["UpperDir"])
    paused_here = False
    if pause and record["State"]["Running"] and not record["State"]["Paused"]:
        await containers.pause(record["Id"])
        paused_here = True
    try:
        image_id = await asyncio.to_thread(
            layerdiff.commit_image, images, parent=record["Image"], upper=upper,
            config=new_config,
            history={"created_by": " ".join(record["Config"].get("Cmd") or []),
                     "author": author, "comment": comment},
            fields={"container": record["Id"], "container_config": record["Config"],
                    "author": author or None, "comment": comment or None},
        )
    finally:
        if paused_here:
            await containers.unpause(record["Id"])
    name = ""
    if reference is not None:
        images.tag(image_id, str(reference), None)
        name = reference.familiar()
    attrs = {"image": record["Config"]["Image"], "name": record["Name"].lstrip("/"),
             **(record["Config"].get("Labels") or {}), "comment": comment,
             "imageID": image_id, "imageRef": name}
    events.publish("container", "commit", record["Id"], attrs)
    return image_id
