"""``docker update``: change a container's resource limits (and restart policy), on the
running cgroup through the runtime (``runc update``, which writes v1 or v2 files alike) and
in the record's ``HostConfig``, so that the next start keeps them.

Validation is ``containers.resources``' (dockerd's rules and texts). The order makes a
failure harmless: the runtime changes the cgroup first, the record is saved only after;
a refused change leaves both as they were.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from minke.engine.cgroups.realtime import check_realtime
from minke.engine.containers.resources import linux_resources, merge_update
from minke.engine.events import EventBus
from minke.engine.runtime import OCIRuntime
from minke.errors import InternalError, InvalidParameter, MinkeError

Record = dict[str, Any]
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
# runc's texts when the kernel refuses a value it writes into the cgroup.
VALUE_REFUSED = ("failed to write", "unable to set memory limit")


class ResourceUpdater:
    """``containers`` is the ``ContainerService`` (``get`` and ``save``)."""

    def __init__(self, *, containers: Any, runtime: OCIRuntime, events: EventBus,
                 cgroup_parent: str) -> None:
        self._containers = containers
        self._cgroup_parent = cgroup_parent
        self._runtime = runtime
        self._events = events
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def update(self, ref: str, changes: dict[str, Any]) -> list[str]:
        """Apply ``changes`` (Docker's UpdateConfig); returns dockerd's warnings."""
        record = self._containers.get(ref)
        cid = record["Id"]
        async with self._locks[cid]:
            record = self._containers.get(cid)
            host = record["HostConfig"]
            merged = merge_update(host, changes)
            warnings = check_realtime(merged, self._cgroup_parent)
            policy = changes.get("RestartPolicy")
            if policy and policy.get("Name"):
                merged["RestartPolicy"] = self._restart_policy(host, policy)
            if record["State"]["Running"]:
                resources = linux_resources(merged)
                if "PidsLimit" in changes:
                    # runc leaves an absent limit as it was: -1 writes "max" (no limit).
                    resources["pids"] = {"limit": int(merged.get("PidsLimit") or -1)}
                try:
                    await self._runtime.update(cid, resources)
                except MinkeError as exc:
                    # The kernel refusing a cgroup file's new value (EINVAL; EBUSY: a limit
                    # below current usage) is a value the client chose, not a daemon fault.
                    refused = any(text in str(exc) for text in VALUE_REFUSED)
                    kind = InvalidParameter if refused else InternalError
                    raise kind(f"Cannot update container {cid}: {exc}") from exc
            record["HostConfig"] = merged
            self._containers.save(record)
        self._locks.pop(cid, None)
        self._events.publish("container", "update", cid, {
            "image": record["Config"]["Image"], "name": record["Name"].lstrip("/"),
        })
        return warnings

    @staticmethod
    def _restart_policy(host: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
        name = str(policy.get("Name") or "")
        if name not in RESTART_POLICIES:
            raise InvalidParameter(f"invalid restart policy '{name}'")
        if host.get("AutoRemove") and name not in ("", "no"):
            raise InvalidParameter(
                "Restart policy cannot be updated because AutoRemove is enabled for the "
                "container")
        count = int(policy.get("MaximumRetryCount") or 0)
        if count and name != "on-failure":
            raise InvalidParameter(
                f"maximum retry count cannot be used with restart policy '{name}'")
        return {"Name": name or "no", "MaximumRetryCount": count}
