"""Network attachments of standalone containers (SwarmKit's resource allocator API,
``AttachNetwork``/``DetachNetwork``, as dockerd's ``daemon/cluster/networks.go`` uses it):
a container that is not a swarm task joins a swarm-scoped ``--attachable`` overlay network
through a task of its own in the cluster state, so that the cluster allocates its address
and every other node programs its overlay peers and names from that task as from any
service task.

The attachment task is Docker's shape: ``Spec.NetworkAttachmentSpec.ContainerID``,
``Spec.Networks`` (the target and the container's aliases), ``NodeID`` the caller's node,
no ``ServiceID``, ``NetworksAttachments`` with the address, and state RUNNING from the
start (it is made by the engine that is about to plumb the container, so there is no
agent step to wait for). Detaching deletes it, which frees the address at once.

- ``attach``/``detach``: the store side, pure functions inside the caller's transaction
  (a manager runs them on its store; the ``AttachmentAPI`` methods run them for workers).
- ``AttachmentAPI``: the two gRPC methods a manager serves on its listen address, for any
  node of the cluster; a node attaches and detaches for itself only (its certificate's
  node ID is the task's ``NodeID``, never a field of the request).
- ``LocalAttacher``/``RemoteAttacher``: what a node's ``SwarmNetworks`` calls, on a manager
  its own store, on a worker its managers over mutual TLS (the leader first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from minke import errors
from minke.swarm.ids import new_id
from minke.swarm.manager import tasks as t
from minke.swarm.network.allocation import node_addresses, used_addresses
from minke.swarm.network.allocator import new_attachment
from minke.swarm.rpc import NODE, Call, ManagerConnection, Method, NodeCredentials
from minke.swarm.rpc.status import from_grpc, to_grpc
from minke.swarm.store import Obj, Store, Tx

log = logging.getLogger(__name__)

SERVICE = "/minke.swarm.ResourceAllocator/"
ATTACH = SERVICE + "AttachNetwork"
DETACH = SERVICE + "DetachNetwork"
ATTACH_TIMEOUT = 10.0  # seconds for one manager to answer


def _mine(tx: Tx, node_id: str, container_id: str, network_id: str | None) -> list[Obj]:
    return [x for x in tx.find("task", node_id=node_id)
            if t.attachment_container(x) == container_id and (
                network_id is None or any(e.get("Target") == network_id
                                          for e in x["Spec"].get("Networks") or []))]


def attach(tx: Tx, *, node_id: str, container_id: str, network_id: str,
           aliases: list[str], address: str = "") -> Obj:
    """The attachment task of ``container_id`` on node ``node_id`` to ``network_id`` (the
    existing one if it has one: a retried call after a lost answer), created with an
    address of the network: ``address`` if given (``--ip``) and free, else the lowest free.
    """
    network = tx.get("network", network_id)
    if network is None:
        raise errors.NotFound(f"network {network_id} not found")
    name = network["Spec"]["Name"]
    if network["Spec"].get("Ingress") or not network["Spec"].get("Attachable"):
        raise errors.Forbidden(f"network {name} not manually attachable")
    for task in _mine(tx, node_id, container_id, network_id):
        if not t.has_ended(task):
            return task
    live = [x for x in tx.list("task") if not t.has_ended(x)]
    used = used_addresses(tx.list("service"), live, network_id)
    used |= set(node_addresses(network).values())
    attachment = new_attachment(network, used, address)
    attachment["Aliases"] = list(aliases)
    now = t.now()
    task: Obj = {
        "ID": new_id(),
        "Labels": {},
        "Spec": {"NetworkAttachmentSpec": {"ContainerID": container_id},
                 "Networks": [{"Target": network_id, "Aliases": list(aliases)}]},
        "ServiceID": "",
        "Slot": 0,
        "NodeID": node_id,
        "Status": {"Timestamp": now, "State": t.RUNNING, "Message": "attached"},
        "DesiredState": t.RUNNING,
        "NetworksAttachments": [attachment],
    }
    return tx.create("task", task)


def detach(tx: Tx, *, node_id: str, container_id: str, network_id: str | None = None
           ) -> int:
    """Delete the attachment tasks of ``container_id`` on ``node_id`` (to ``network_id``
    only, if given): their addresses are free again. How many there were."""
    tasks = _mine(tx, node_id, container_id, network_id)
    for task in tasks:
        tx.delete("task", task["ID"])
    return len(tasks)


def _text(request: Any, key: str, *, required: bool = True) -> str:
    value = (request or {}).get(key, "") if isinstance(request, dict) else None
    if not isinstance(value, str) or (required and not value):
        raise errors.InvalidParameter(f"invalid {key}: a non-empty string is expected"
                                      if required else f"invalid {key}: a string is expected")
    return value


class AttachmentAPI:
    """The manager's side: ``AttachNetwork``/``DetachNetwork`` for the calling node."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self.store = store  # the manager's current store (it may switch stores)

    def methods(self) -> list[Method]:
        return [Method(ATTACH, self.attach_network, NODE),
                Method(DETACH, self.detach_network, NODE)]

    async def attach_network(self, call: Call, request: Any) -> Obj:
        container_id = _text(request, "ContainerID")
        network_id = _text(request, "NetworkID")
        address = _text(request, "Address", required=False)
        aliases = request.get("Aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise errors.InvalidParameter("invalid Aliases: a list of strings is expected")
        node_id = call.identity.node_id  # a node attaches its own containers only
        task = await self.store().update(lambda tx: attach(
            tx, node_id=node_id, container_id=container_id, network_id=network_id,
            aliases=aliases, address=address))
        return {"Task": t.public(task)}

    async def detach_network(self, call: Call, request: Any) -> Obj:
        container_id = _text(request, "ContainerID")
        network_id = _text(request, "NetworkID", required=False) or None
        node_id = call.identity.node_id  # only the caller's own attachment tasks
        count = await self.store().update(lambda tx: detach(
            tx, node_id=node_id, container_id=container_id, network_id=network_id))
        return {"Detached": count}


class Attacher(Protocol):
    async def attach(self, container_id: str, network_id: str, aliases: list[str],
                     address: str) -> Obj: ...

    async def detach(self, container_id: str, network_id: str | None) -> int: ...


class LocalAttacher:
    """A manager's node: its own store (any manager writes the cluster's store)."""

    def __init__(self, store: Store, node_id: str) -> None:
        self.store, self.node_id = store, node_id

    async def attach(self, container_id: str, network_id: str, aliases: list[str],
                     address: str) -> Obj:
        try:
            return await self.store.update(lambda tx: attach(
                tx, node_id=self.node_id, container_id=container_id,
                network_id=network_id, aliases=aliases, address=address))
        except errors.MinkeError as exc:
            # the text a worker gets through the RPC ("rpc error: code = … desc = …"), as
            # dockerd shows its managers' refusals on every node
            raise from_grpc(to_grpc(exc)) from exc

    async def detach(self, container_id: str, network_id: str | None) -> int:
        return await self.store.update(lambda tx: detach(
            tx, node_id=self.node_id, container_id=container_id, network_id=network_id))


class RemoteAttacher:
    """A worker's node: the managers it knows (``candidates``, the leader first), each in
    turn until one answers; a refusal (bad request, not attachable) is not retried."""

    def __init__(self, candidates: Callable[[], list[str]],
                 credentials: Callable[[], NodeCredentials]) -> None:
        self.candidates, self.credentials = candidates, credentials

    async def _call(self, name: str, request: Obj) -> Any:
        failures = []
        for addr in self.candidates():
            conn = ManagerConnection(addr, self.credentials().client_context())
            try:
                return await conn.call(name, request, timeout=ATTACH_TIMEOUT)
            except errors.Unavailable as exc:  # unreachable, or not the leader
                failures.append(exc.message)
            finally:
                conn.close()
        raise errors.Unavailable("no manager answered: " + "; ".join(failures)
                                 if failures else "this node knows no manager")

    async def attach(self, container_id: str, network_id: str, aliases: list[str],
                     address: str) -> Obj:
        reply = await self._call(ATTACH, {"ContainerID": container_id,
                                          "NetworkID": network_id, "Aliases": aliases,
                                          "Address": address})
        return dict(reply["Task"])

    async def detach(self, container_id: str, network_id: str | None) -> int:
        reply = await self._call(DETACH, {"ContainerID": container_id,
                                          "NetworkID": network_id or ""})
        return int(reply.get("Detached") or 0)
