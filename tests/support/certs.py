"""Test certificates made with ``cryptography``: a CA, and server and client certificates it
signs, written as docker expects them in a cert directory (ca.pem, cert.pem, key.pem)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1))


def make_ca(common_name: str = "minke test CA") -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _validity(x509.CertificateBuilder()
                        .subject_name(_name(common_name)).issuer_name(_name(common_name))
                        .public_key(key.public_key()).serial_number(x509.random_serial_number()))
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                    critical=True)
    builder = builder.add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                      content_commitment=False, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, encipher_only=False,
                      decipher_only=False), critical=True)
    return CA(key, builder.sign(key, hashes.SHA256()))


def write_leaf(ca: CA, directory: Path, *, server: bool) -> Path:
    """A certificate signed by ``ca`` (for 127.0.0.1 and localhost if ``server``, else for
    client authentication), written with the CA as ca.pem, cert.pem and key.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _validity(x509.CertificateBuilder()
                        .subject_name(_name("minked" if server else "client"))
                        .issuer_name(ca.cert.subject).public_key(key.public_key())
                        .serial_number(x509.random_serial_number()))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.pem())
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / "key.pem").chmod(0o600)
    return directory
