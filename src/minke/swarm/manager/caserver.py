"""The cluster CA's RPC methods (SwarmKit's ``ca/server.go``): the root certificate for a
joining node to pin, a node certificate for a joining node that shows a valid join token
(which also registers the node; a manager only where the store is etcd, which the joining
manager must be configured to reach too: ``--cluster-store``), and the renewal of a
member's certificate with the role the store gives it now (so ``node promote``/``demote``
reach the certificate's OU).

Tokens are compared in constant time; a wrong or rotated token is refused with SwarmKit's
words and logged with the caller's address.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import logging
from typing import Any

from minke import errors
from minke.swarm.ca import sign_csr
from minke.swarm.ids import new_id
from minke.swarm.manager import spec as specs
from minke.swarm.manager.controlapi import MANAGER_JOIN, ControlAPI
from minke.swarm.rpc import ANYONE, NODE, Call, Method
from minke.swarm.store import Obj, Tx

log = logging.getLogger(__name__)

SERVICE = "/minke.swarm.CA/"
GET_ROOT = SERVICE + "GetRootCACertificate"
ISSUE = SERVICE + "IssueNodeCertificate"
RENEW = SERVICE + "RenewNodeCertificate"
INVALID_TOKEN = "A valid join token is necessary to join this cluster"
NO_STORE = ("this node has no cluster store: start its minked with --cluster-store {url} "
            "(the managers' etcd) to join as a manager")


def shared_store(store: Any) -> str:
    """The URL of the etcd store managers share, "" for SQLite (one manager only)."""
    return str(store.config.url) if hasattr(store, "fenced") else ""


def _text(request: Any, key: str) -> str:
    value = (request or {}).get(key) or ""
    if not isinstance(value, str):
        raise errors.InvalidParameter(f"invalid {key}: a string is expected")
    return value


class NodeCA:
    """The CA methods of the manager whose control API is ``control``."""

    def __init__(self, control: ControlAPI) -> None:
        self.control = control

    def methods(self) -> list[Method]:
        return [Method(GET_ROOT, self.root, ANYONE), Method(ISSUE, self.issue, ANYONE),
                Method(RENEW, self.renew, NODE)]

    async def root(self, call: Call, request: Any) -> Obj:
        cluster = await self.control.cluster()
        return {"Certificate": cluster["RootCA"]["CACert"]}

    async def issue(self, call: Call, request: Any) -> Obj:
        """A joining node: ``Token``, ``CSR``, ``Availability``, ``Addr`` (its advertise
        address, or "" for the address it calls from), ``DataPathAddr``, ``Store`` (its cluster
        store's URL, "" for none)."""
        token, csr = _text(request, "Token"), _text(request, "CSR")
        availability = _text(request, "Availability") or "active"
        if availability not in specs.AVAILABILITIES:
            raise errors.InvalidParameter(f'invalid Availability: "{availability}"')
        addr = _text(request, "Addr").rsplit(":", 1)[0].strip("[]") or call.addr
        cluster = await self.control.cluster()
        tokens = self.control.cluster_doc(cluster, join_tokens=True)["JoinTokens"]
        role = next((r for r in ("Worker", "Manager")
                     if hmac.compare_digest(token.encode(), tokens[r].encode())), None)
        if role is None:
            log.warning("swarm ca: refused a join from %s: invalid or rotated join token",
                        call.addr)
            raise errors.InvalidParameter(INVALID_TOKEN)
        manager = role == "Manager"
        store_url = shared_store(self.control.store)
        if manager and not store_url:  # refused before anything is registered
            raise errors.NotSupported(MANAGER_JOIN)
        if manager and not _text(request, "Store"):
            raise errors.InvalidParameter(NO_STORE.format(url=store_url))
        node_id = new_id()
        cert = await asyncio.to_thread(
            sign_csr, self.control.root_ca(cluster), csr.encode(), node_id=node_id,
            manager=manager, cluster_id=cluster["ID"], expiry=_expiry(cluster))
        node: Obj = {
            "ID": node_id,
            "Spec": {"Labels": {}, "Role": "manager" if manager else "worker",
                     "Availability": availability},
            "Description": {}, "Status": {"State": "unknown", "Addr": addr},
            "_DataPathAddr": _text(request, "DataPathAddr"),
        }
        if manager:
            node["ManagerStatus"] = {"Leader": False, "Reachability": "reachable",
                                     "Addr": _text(request, "Addr") or f"{addr}:2377"}

        def register(tx: Tx) -> None:
            for other in tx.list("node"):
                if other["Status"].get("State") == "ready" and \
                        other["Status"].get("Addr") == addr:
                    raise errors.Conflict(
                        f"address {addr} is already used by node {other['ID']}: give "
                        "each node its own --advertise-addr")
            tx.create("node", node)
        await self.control.store.update(register)
        log.info("swarm ca: node %s joined as a %s from %s", node_id, role.lower(), call.addr)
        return {"NodeID": node_id, "Certificate": cert.decode(),
                "RootCA": cluster["RootCA"]["CACert"], "Store": store_url}

    async def renew(self, call: Call, request: Any) -> Obj:
        """A member's new certificate, its role as the store has it now."""
        csr = _text(request, "CSR")
        cluster = await self.control.cluster()
        node = await self.control.store.view(lambda tx: tx.get("node", call.identity.node_id))
        if node is None:
            raise errors.Forbidden(f"node {call.identity.node_id} is not a member of this "
                                   "swarm (removed)")
        cert = await asyncio.to_thread(
            sign_csr, self.control.root_ca(cluster), csr.encode(), node_id=node["ID"],
            manager=node["Spec"]["Role"] == "manager", cluster_id=cluster["ID"],
            expiry=_expiry(cluster))
        return {"Certificate": cert.decode()}


def _expiry(cluster: Obj) -> datetime.timedelta:
    return datetime.timedelta(microseconds=specs.node_cert_expiry(cluster["Spec"]) // 1000)
