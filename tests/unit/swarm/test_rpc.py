"""Node-to-node gRPC over mutual TLS on loopback, with real certificates from two roots:
who may call what (anonymous, a node of the cluster, a manager), and what the TLS
handshake itself refuses (another cluster's certificate, an expired one, a manager whose
certificate is not of the pinned root). Also when a certificate is due for renewal."""

from __future__ import annotations

import datetime
import logging
import random
import socket
from typing import Any

import pytest

from minke import errors
from minke.swarm.ca import RootCA, issue_node_certificate
from minke.swarm.ca.rootca import sign_node_certificate
from minke.swarm.renewal import renewal_delay
from minke.swarm.rpc import (
    ANYONE,
    MANAGER,
    NODE,
    ManagerConnection,
    Method,
    NodeCredentials,
    RPCServer,
)
from minke.swarm.rpc.server import Call
from minke.swarm.rpc.tls import pinned_context, unverified_context

DAY = datetime.timedelta(days=1)


def credentials(root: RootCA, node_id: str, *, manager: bool, cluster: str = "cluster-a",
                expiry: datetime.timedelta = DAY) -> NodeCredentials:
    cert, key = issue_node_certificate(root, node_id=node_id, manager=manager,
                                       cluster_id=cluster, expiry=expiry)
    return NodeCredentials(root.cert_pem, cert, key)


async def whoami(call: Call, request: Any) -> Any:
    return {"Node": call.identity.node_id, "Role": call.identity.role, "Echo": request}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self) -> None:
        self.root = RootCA.create()
        self.manager = credentials(self.root, "m1", manager=True)
        self.server = RPCServer(
            [Method("/t.S/Anyone", whoami, ANYONE), Method("/t.S/Node", whoami, NODE),
             Method("/t.S/Manager", whoami, MANAGER)],
            cluster_id="cluster-a", tls=self.manager.server_context())
        self.addr = f"127.0.0.1:{free_port()}"

    async def __aenter__(self) -> Served:
        host, port = self.addr.split(":")
        await self.server.start(host, int(port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    async def call(self, ctx: Any, method: str, message: Any = None) -> Any:
        conn = ManagerConnection(self.addr, ctx)
        try:
            return await conn.call(method, message or {}, timeout=5)
        finally:
            conn.close()


async def test_each_method_admits_only_its_callers(caplog: pytest.LogCaptureFixture) -> None:
    async with Served() as s:
        anonymous = pinned_context(s.root.cert_pem)
        worker = credentials(s.root, "w1", manager=False).client_context()
        assert (await s.call(anonymous, "/t.S/Anyone", {"x": 1}))["Echo"] == {"x": 1}
        with pytest.raises(errors.Forbidden, match="a node certificate is required"):
            await s.call(anonymous, "/t.S/Node")
        assert await s.call(worker, "/t.S/Node") == {"Node": "w1", "Role": "worker",
                                                      "Echo": {}}
        with caplog.at_level(logging.WARNING, logger="minke.swarm.rpc.server"):
            with pytest.raises(errors.Forbidden, match="only for managers, the caller is a "
                                                       "worker"):
                await s.call(worker, "/t.S/Manager")
        assert "refused /t.S/Manager from 127.0.0.1 (node w1, worker)" in caplog.text
        assert (await s.call(s.manager.client_context(), "/t.S/Manager"))["Role"] == "manager"
        # Same root, another cluster's ID in O: refused by the per-method check.
        stranger = credentials(s.root, "x1", manager=True, cluster="cluster-b")
        with pytest.raises(errors.Forbidden, match="certificate of cluster 'cluster-b'"):
            await s.call(stranger.client_context(), "/t.S/Node")


async def test_the_handshake_refuses_foreign_and_expired_certificates(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="minke.swarm.rpc.server")
    async with Served() as s:
        other_root = RootCA.create()
        foreign = credentials(other_root, "f1", manager=False)
        # Presenting another root's certificate to this cluster's manager:
        ctx = pinned_context(s.root.cert_pem)
        foreign_on_ours = NodeCredentials(s.root.cert_pem, foreign.cert_pem, foreign.key_pem)
        foreign_on_ours.load_chain(ctx)
        with pytest.raises(errors.Unavailable, match=f"manager {s.addr} did not answer"):
            await s.call(ctx, "/t.S/Anyone")
        # Expired (validity ended four minutes ago):
        expired = credentials(s.root, "w2", manager=False,
                              expiry=-datetime.timedelta(minutes=4))
        with pytest.raises(errors.Unavailable):
            await s.call(expired.client_context(), "/t.S/Anyone")
        refusals = [r.getMessage() for r in caplog.records if "TLS handshake failed" in
                    r.getMessage()]
        assert len(refusals) >= 2 and "refused a connection from 127.0.0.1" in refusals[0]
        assert any("certificate has expired" in r for r in refusals), refusals
        # A node pinned to another root does not trust this manager.
        with pytest.raises(errors.Unavailable, match="TLS handshake refused"):
            await s.call(foreign.client_context(), "/t.S/Anyone")
        # Without verification (a joining node fetching the root) it connects.
        assert (await s.call(unverified_context(), "/t.S/Anyone"))["Node"] == ""


async def test_an_address_that_does_not_answer_is_named() -> None:
    conn = ManagerConnection(f"127.0.0.1:{free_port()}", unverified_context())
    try:
        with pytest.raises(errors.Unavailable, match="did not answer"):
            await conn.call("/t.S/Anyone", {}, timeout=2)
    finally:
        conn.close()


def test_renewal_falls_between_half_and_four_fifths_of_the_validity() -> None:
    root = RootCA.create()
    key = credentials(root, "n", manager=False).key_pem
    from cryptography.hazmat.primitives import serialization
    public = serialization.load_pem_private_key(key, password=None).public_key()
    cert = sign_node_certificate(root, public, node_id="n", manager=False,  # type: ignore[arg-type]
                                 cluster_id="c", expiry=datetime.timedelta(days=90))
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    total = (datetime.timedelta(days=90) + datetime.timedelta(minutes=5)).total_seconds()
    rng = random.Random(7)
    for _ in range(50):
        at = renewal_delay(cert, now=start, rng=rng) / total
        assert 0.5 <= at <= 0.8
    late = start + datetime.timedelta(days=89)
    assert renewal_delay(cert, now=late) == 0.0
