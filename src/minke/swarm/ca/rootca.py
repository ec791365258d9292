"""The cluster's root CA (SwarmKit's ``ca``): an ECDSA P-256 root named ``swarm-ca``, node
certificates it signs (CN = node ID, OU = role, O = cluster ID), Docker's ``TLSInfo``, and
join tokens of the form ``SWMTKN-1-<digest>-<secret>`` whose digest pins the root.

Knows nothing of the store: callers keep the PEM bytes (the key sealed, see ``keys``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from minke import errors

ROOT_CN = "swarm-ca"
ROOT_VALIDITY = datetime.timedelta(days=7300)  # 20 years, as SwarmKit's roots
BACKDATE = datetime.timedelta(minutes=5)  # tolerates clocks a little behind ours
MANAGER_OU, WORKER_OU = "swarm-manager", "swarm-worker"
DIGEST_LEN, SECRET_LEN = 50, 25  # base36 digits of the token's two parts
SECRET_BYTES = 16


@dataclass(frozen=True)
class RootCA:
    """The root certificate (``cert_pem``, the bundle nodes trust) and its private key."""

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def create(cls) -> RootCA:
        key = ec.generate_private_key(ec.SECP256R1())
        # PrintableString, as SwarmKit's (cfssl's) root: the same CertIssuerSubject bytes.
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN,
                                             _type=_ASN1Type.PrintableString)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    @property
    def digest(self) -> str:
        """sha256 of the PEM bundle, hex: what a join token pins."""
        return hashlib.sha256(self.cert_pem).hexdigest()

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def issue_node_certificate(root: RootCA, *, node_id: str, manager: bool, cluster_id: str,
                           expiry: datetime.timedelta) -> tuple[bytes, bytes]:
    """A new key and a certificate for it signed by ``root``: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sign_node_certificate(root, key.public_key(), node_id=node_id, manager=manager,
                                 cluster_id=cluster_id, expiry=expiry)
    return cert, _key_pem(key)


def new_csr() -> tuple[bytes, bytes]:
    """A fresh key and a certificate signing request for it: (CSR PEM, key PEM). The
    subject is left empty: the CA decides the node's ID, role and cluster."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def sign_csr(root: RootCA, csr_pem: bytes, *, node_id: str, manager: bool, cluster_id: str,
             expiry: datetime.timedelta) -> bytes:
    """The node certificate for the key of ``csr_pem`` (whose signature must verify:
    the caller holds the key); ``errors.InvalidParameter`` for a malformed request."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise errors.InvalidParameter(f"invalid certificate signing request: {exc}") from None
    if not csr.is_signature_valid:
        raise errors.InvalidParameter("invalid certificate signing request: bad signature")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise errors.InvalidParameter("invalid certificate signing request: an ECDSA key "
                                      "is expected")
    return sign_node_certificate(root, public, node_id=node_id, manager=manager,
                                 cluster_id=cluster_id, expiry=expiry)


def sign_node_certificate(root: RootCA, public: ec.EllipticCurvePublicKey, *, node_id: str,
                          manager: bool, cluster_id: str,
                          expiry: datetime.timedelta) -> bytes:
    """A node certificate for ``public``: CN node ID, OU role, O cluster ID."""
    ca_key = serialization.load_pem_private_key(root.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, MANAGER_OU if manager else WORKER_OU),
        x509.NameAttribute(NameOID.COMMON_NAME, node_id),
    ])
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = root.certificate
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + expiry)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                              x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(MANAGER_OU if manager else WORKER_OU), x509.DNSName(node_id)]),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def tls_info(root: RootCA) -> dict[str, str]:
    """Docker's ``TLSInfo``: the trusted root and its subject and public key (DER, base64)."""
    cert = root.certificate
    public = cert.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "TrustRoot": root.cert_pem.decode(),
        "CertIssuerSubject": base64.b64encode(cert.subject.public_bytes()).decode(),
        "CertIssuerPublicKey": base64.b64encode(public).decode(),
    }


def join_token(root: RootCA) -> str:
    """A fresh join token for ``root``: ``SWMTKN-1-`` the root's digest and a random secret,
    both base36, zero-padded to 50 and 25 digits (SwarmKit's ``GenerateJoinToken``)."""
    digest = _base36(int(root.digest, 16)).rjust(DIGEST_LEN, "0")
    secret = _base36(int.from_bytes(secrets.token_bytes(SECRET_BYTES))).rjust(SECRET_LEN, "0")
    return f"SWMTKN-1-{digest}-{secret}"


def token_digest(token: str) -> str | None:
    """The hex root digest a join token pins, or None if ``token`` is not one."""
    parts = token.split("-")
    if len(parts) != 4 or parts[:2] != ["SWMTKN", "1"] or len(parts[2]) != DIGEST_LEN:
        return None
    try:
        return f"{int(parts[2], 36):064x}"
    except ValueError:
        return None


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, rem = divmod(n, 36)
        out = digits[rem] + out
    return out or "0"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
