"""``swarm join`` on the joining node: the request checked as dockerd checks it, then the
bootstrap SwarmKit's ``ca.DownloadRootCA`` and ``ca.GetRemoteSignedCertificate`` do:

1. fetch the root certificate from the manager over TLS *without* trusting anything yet,
   and compare its digest with the one the join token carries: a different root is
   refused before this node sends anything else (the token's secret included);
2. send a certificate signing request with the token over TLS that now trusts only that
   root (and checks the manager's certificate against it); the manager registers the
   node and answers its certificate (CN node ID, OU role, O cluster ID).

The private key is made here and never leaves the node.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from dataclasses import dataclass
from typing import Any

from minke import errors
from minke.swarm import addresses
from minke.swarm.ca import DataKey, new_csr, token_digest
from minke.swarm.manager.caserver import GET_ROOT, ISSUE
from minke.swarm.manager.remote import GET_DATA_KEY
from minke.swarm.rpc import Identity, ManagerConnection, NodeCredentials
from minke.swarm.rpc.tls import pinned_context, unverified_context

JOIN_TIMEOUT = 10.0  # seconds for each call to the manager
INVALID_TOKEN = "invalid join token"


@dataclass(frozen=True)
class JoinRequest:
    listen_addr: str  # host:port
    advertise_addr: str  # host:port, "" to take the address this node reaches the manager from
    data_path_addr: str
    remote_addrs: list[str]
    token: str
    availability: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> JoinRequest:
        remotes = body.get("RemoteAddrs") or []
        if not isinstance(remotes, list) or not all(isinstance(r, str) for r in remotes):
            raise errors.InvalidParameter("invalid RemoteAddrs: a list of addresses is "
                                          "expected")
        if not remotes:
            raise errors.InvalidParameter("at least 1 RemoteAddr is required to join")
        token = _text(body, "JoinToken")
        if token_digest(token) is None:
            raise errors.InvalidParameter(INVALID_TOKEN)
        listen_host, listen_port = addresses.listen_address(
            _text(body, "ListenAddr") or "0.0.0.0:2377")
        advertise = ""
        if _text(body, "AdvertiseAddr"):
            advertise = addresses.join(*addresses.advertise_address(
                _text(body, "AdvertiseAddr"), listen_host, listen_port))
        elif listen_host != "0.0.0.0":
            advertise = addresses.join(listen_host, listen_port)
        data_path = _text(body, "DataPathAddr")
        if data_path:
            data_path = addresses.resolve_host(
                data_path, error="data path address must be a non-zero IP address or "
                "network interface (without a port number)")
        availability = _text(body, "Availability") or "active"
        if availability not in ("active", "pause", "drain"):
            raise errors.InternalError(f'invalid Availability: "{availability}"')
        remote = [addresses.join(*addresses.split_addr(r, what="remote")) for r in remotes]
        return cls(listen_addr=addresses.join(listen_host, listen_port),
                   advertise_addr=advertise, data_path_addr=data_path, remote_addrs=remote,
                   token=token, availability=availability)


@dataclass(frozen=True)
class Joined:
    node_id: str
    cluster_id: str
    role: str
    manager: str  # the manager that answered
    advertise_addr: str
    root_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    store: str = ""  # the etcd store the managers share ("" on SQLite)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise errors.InvalidParameter(f"invalid {key}: a string is expected")
    return value


def source_address(host: str) -> str:
    """The local address the kernel would use to reach ``host`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
        except OSError as exc:
            raise errors.InvalidParameter(f"could not find this node's address towards "
                                          f"{host}: {exc}") from None
        return str(s.getsockname()[0])


async def fetch_root(manager: str, digest: str) -> bytes:
    """The manager's root certificate, if its digest is ``digest`` (hex)."""
    conn = ManagerConnection(manager, unverified_context())
    try:
        reply = await conn.call(GET_ROOT, {}, timeout=JOIN_TIMEOUT)
    finally:
        conn.close()
    root = str((reply or {}).get("Certificate") or "").encode()
    if hashlib.sha256(root).hexdigest() != digest:
        raise errors.InvalidParameter(
            f"remote CA does not match fingerprint. Expected: {digest}")
    return root


async def manager_data_key(managers: list[str], credentials: NodeCredentials) -> DataKey:
    """The cluster's data key from the first of ``managers`` that answers, for a node
    with a manager certificate (a manager joining or promoted)."""
    failure: errors.MinkeError = errors.Unavailable("no manager to ask for the data key")
    for manager in managers:
        conn = ManagerConnection(manager, credentials.client_context())
        try:
            reply = await conn.call(GET_DATA_KEY, {}, timeout=JOIN_TIMEOUT)
            return DataKey(base64.b64decode(str(reply["DataKey"])))
        except errors.MinkeError as exc:
            failure = exc
        finally:
            conn.close()
    raise failure


async def join_cluster(request: JoinRequest, store: str = "") -> Joined:
    """Get this node a certificate from the first manager that answers; the last error
    if none does. ``store`` is this node's cluster store URL ("" for none): a manager
    token needs one."""
    digest = token_digest(request.token)
    assert digest is not None
    failure: errors.MinkeError = errors.Unavailable("no manager to join")
    for manager in request.remote_addrs:
        try:
            return await _join(request, manager, digest, store)
        except errors.Unavailable as exc:  # the next manager may answer
            failure = exc
    raise failure


async def _join(request: JoinRequest, manager: str, digest: str, store: str) -> Joined:
    root = await fetch_root(manager, digest)
    csr, key = await asyncio.to_thread(new_csr)
    advertise = request.advertise_addr or addresses.join(
        source_address(addresses.split_addr(manager, what="remote")[0]),
        addresses.split_addr(request.listen_addr, what="listen")[1])
    conn = ManagerConnection(manager, pinned_context(root))
    try:
        reply = await conn.call(ISSUE, {
            "Token": request.token, "CSR": csr.decode(), "Availability": request.availability,
            "Addr": advertise, "DataPathAddr": request.data_path_addr, "Store": store},
            timeout=JOIN_TIMEOUT)
    finally:
        conn.close()
    cert = str(reply.get("Certificate") or "").encode()
    identity = Identity.from_certificate(cert)
    if identity.node_id != reply.get("NodeID") or not identity.role:
        raise errors.InternalError("the manager answered a certificate that is not this "
                                   "node's")
    return Joined(node_id=identity.node_id, cluster_id=identity.cluster_id,
                  role=identity.role, manager=manager, advertise_addr=advertise,
                  root_pem=root, cert_pem=cert, key_pem=key,
                  store=str(reply.get("Store") or ""))
