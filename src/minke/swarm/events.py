"""Cluster events for ``docker events``: a store watcher that turns each write to a node,
service, secret or config into Docker's event (``Type`` the kind, scope ``swarm``, Actions
create/update/remove), with the attributes dockerd's ``logNodeEvent`` and friends add.

It follows the store's index, so after a restart of the watcher nothing is published twice
and nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from minke.aio import cancel
from minke.swarm.store import CREATE, DELETE, Event, Obj, Store

log = logging.getLogger(__name__)

Publish = Callable[..., Any]  # EventBus.publish(type_, action, actor_id, attributes, scope=)
KINDS = ("node", "service", "secret", "config")
_ACTIONS = {CREATE: "create", DELETE: "remove"}


def node_attributes(node: Obj, old: Obj | None) -> dict[str, str]:
    """``name``, and for an update what changed: availability, role, state, leader and
    reachability, each as ``<field>.old``/``<field>.new`` (dockerd's ``logNodeEvent``)."""
    name = node["Spec"].get("Name") or node.get("Description", {}).get("Hostname", "")
    attrs = {"name": name}
    if old is None:
        return attrs

    def diff(key: str, new_value: Any, old_value: Any) -> None:
        if new_value != old_value:
            attrs[f"{key}.old"], attrs[f"{key}.new"] = str(old_value), str(new_value)
    diff("availability", node["Spec"]["Availability"], old["Spec"]["Availability"])
    diff("role", node["Spec"]["Role"], old["Spec"]["Role"])
    diff("state", node["Status"]["State"], old["Status"]["State"])
    new_manager, old_manager = node.get("ManagerStatus"), old.get("ManagerStatus")
    if new_manager and old_manager:
        diff("leader", str(bool(new_manager.get("Leader"))).lower(),
             str(bool(old_manager.get("Leader"))).lower())
        diff("reachability", new_manager.get("Reachability"), old_manager.get("Reachability"))
    return attrs


def service_attributes(service: Obj, old: Obj | None) -> dict[str, str]:
    """``name``, and for an update what changed: ``image``, ``replicas`` and
    ``updatestate`` as ``<field>.old``/``<field>.new`` (dockerd's ``logServiceEvent``)."""
    attrs = {"name": service["Spec"].get("Name", "")}
    if old is None:
        return attrs

    def image(s: Obj) -> str:
        return (s["Spec"].get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")

    def replicas(s: Obj) -> Any:
        return (s["Spec"]["Mode"].get("Replicated") or {}).get("Replicas")
    if image(service) != image(old):
        attrs["image.old"], attrs["image.new"] = image(old), image(service)
    if "Replicated" in service["Spec"]["Mode"] and replicas(service) != replicas(old):
        attrs["replicas.old"], attrs["replicas.new"] = str(replicas(old)), str(replicas(service))
    new_state = (service.get("UpdateStatus") or {}).get("State")
    old_state = (old.get("UpdateStatus") or {}).get("State")
    if new_state and new_state != old_state:
        # SwarmKit's enum names, as dockerd prints them
        attrs["updatestate.new"] = new_state.upper()
        if old_state:
            attrs["updatestate.old"] = old_state.upper()
    return attrs


def _public(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if not k.startswith("_") and k not in (
        "Version", "UpdatedAt")}


def docker_event(event: Event) -> tuple[str, str, str, dict[str, str]] | None:
    """(type, action, actor id, attributes) of a store event; None for a write that
    changed only the manager's bookkeeping (nothing dockerd would report)."""
    action = _ACTIONS.get(event.action, "update")
    old = event.old if event.action != DELETE else None
    if event.kind == "node":
        return "node", action, event.id, node_attributes(event.object, old)
    if event.kind == "service":
        if old is not None and _public(old) == _public(event.object):
            return None
        return "service", action, event.id, service_attributes(event.object, old)
    return event.kind, action, event.id, {"name": event.object["Spec"].get("Name", "")}


class EventPublisher:
    """Publishes the store's cluster events from ``since`` on, until stopped."""

    def __init__(self, store: Store, publish: Publish, since: int) -> None:
        self._store = store
        self._publish = publish
        self._since = since
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="swarm-events")

    async def _run(self) -> None:
        async for event in self._store.watch(KINDS, since=self._since):
            self._since = event.index
            described = docker_event(event)
            if described is None:
                continue
            type_, action, actor, attrs = described
            try:
                self._publish(type_, action, actor, attrs, scope="swarm")
            except Exception:  # a subscriber's failure must not end the publisher
                log.exception("publishing %s %s failed", type_, action)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
