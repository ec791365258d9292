"""TLS for node-to-node calls: the SSL contexts a node makes from its certificate (issued by
the cluster's root CA: CN = node ID, OU = role, O = cluster ID), and the identity of a peer
read back from the certificate it presented.

Both sides verify: a manager's server context asks for a client certificate and checks it
against the root (optional at the TLS level, because a node that is joining has none yet
and may only call the CA's anonymous methods; ``server`` enforces that per method); a
client checks the manager's certificate against the root and its name ``swarm-manager``.
A certificate of another cluster or an expired one fails the handshake itself.
"""

from __future__ import annotations

import datetime
import os
import secrets
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from minke.swarm.ca.rootca import MANAGER_OU, WORKER_OU

ALPN = ["h2"]


@dataclass(frozen=True)
class Identity:
    """Who is calling, from its verified certificate; ``node_id`` "" for an anonymous peer."""

    node_id: str = ""
    role: str = ""  # "manager", "worker" or "" (anonymous)
    cluster_id: str = ""

    @classmethod
    def from_peer(cls, cert: dict[str, Any] | None) -> Identity:
        """From ``SSLSocket.getpeercert()`` (only a certificate that verified is given)."""
        if not cert:
            return cls()
        fields = {k: v for rdn in cert.get("subject", ()) for k, v in rdn}
        ou = fields.get("organizationalUnitName", "")
        role = {MANAGER_OU: "manager", WORKER_OU: "worker"}.get(ou, "")
        return cls(node_id=fields.get("commonName", ""), role=role,
                   cluster_id=fields.get("organizationName", ""))

    @classmethod
    def from_certificate(cls, cert_pem: bytes) -> Identity:
        cert = x509.load_pem_x509_certificate(cert_pem)

        def attr(oid: x509.ObjectIdentifier) -> str:
            found = cert.subject.get_attributes_for_oid(oid)
            return str(found[0].value) if found else ""
        ou = attr(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        return cls(node_id=attr(x509.NameOID.COMMON_NAME),
                   role={MANAGER_OU: "manager", WORKER_OU: "worker"}.get(ou, ""),
                   cluster_id=attr(x509.NameOID.ORGANIZATION_NAME))


def validity(cert_pem: bytes) -> tuple[datetime.datetime, datetime.datetime]:
    """(not before, not after) of a PEM certificate, in UTC."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_before_utc, cert.not_valid_after_utc


@dataclass(frozen=True)
class NodeCredentials:
    """A node's trust root, certificate and key (PEM, the key unencrypted in memory)."""

    root_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def identity(self) -> Identity:
        return Identity.from_certificate(self.cert_pem)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = ssl.CERT_OPTIONAL  # joining nodes have none: see the docstring
        ctx.load_verify_locations(cadata=self.root_pem.decode())
        self.load_chain(ctx)
        ctx.set_alpn_protocols(ALPN)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = pinned_context(self.root_pem)
        self.load_chain(ctx)
        return ctx

    def load_chain(self, ctx: ssl.SSLContext) -> None:
        """Present this certificate on ``ctx`` (its new connections, after a renewal)."""
        # ssl loads keys from files only: the key goes there encrypted with a one-off
        # password, so it never touches a disk in the clear.
        password = secrets.token_bytes(32)
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        sealed = key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(password))
        with tempfile.TemporaryDirectory(prefix="minke-tls-") as tmp:
            cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, data in ((cert_file, self.cert_pem), (key_file, sealed)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            ctx.load_cert_chain(cert_file, key_file, password=password)


def pinned_context(root_pem: bytes) -> ssl.SSLContext:
    """A client context that trusts ``root_pem`` only (no client certificate yet)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=root_pem.decode())
    ctx.check_hostname = True
    ctx.set_alpn_protocols(ALPN)
    return ctx


def unverified_context() -> ssl.SSLContext:
    """For the one call a joining node makes before it trusts anything: fetching the root
    certificate, which it then checks against the digest in its join token."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(ALPN)
    return ctx
