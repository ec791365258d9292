"""The root CA, node certificates, join tokens and the keys of encryption at rest."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minke import errors
from minke.swarm.ca import (
    DataKey,
    InvalidUnlockKey,
    RootCA,
    human_readable_key,
    issue_node_certificate,
    join_token,
    new_unlock_key,
    parse_human_readable_key,
    tls_info,
)
from minke.swarm.ca.rootca import token_digest

# Docker's CertIssuerSubject for every swarm root (CN=swarm-ca as a PrintableString).
DOCKER_ISSUER_SUBJECT = "MBMxETAPBgNVBAMTCHN3YXJtLWNh"


@pytest.fixture(scope="module")
def root() -> RootCA:
    return RootCA.create()


def test_root_is_a_p256_ca_named_swarm_ca(root: RootCA) -> None:
    cert = root.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "swarm-ca"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > datetime.timedelta(days=7000)


def test_tls_info_in_dockers_shape(root: RootCA) -> None:
    info = tls_info(root)
    assert info["TrustRoot"] == root.cert_pem.decode()
    assert info["CertIssuerSubject"] == DOCKER_ISSUER_SUBJECT
    key = root.certificate.public_key()
    assert base64.b64decode(info["CertIssuerPublicKey"]) == key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_join_token_pins_the_root_digest(root: RootCA) -> None:
    token = join_token(root)
    prefix, version, digest, secret = token.split("-")
    assert (prefix, version, len(digest), len(secret)) == ("SWMTKN", "1", 50, 25)
    assert token_digest(token) == root.digest
    assert join_token(root) != token  # a fresh secret each time
    assert token_digest("SWMTKN-1-abc-def") is None


def test_node_certificate_names_node_role_and_cluster(root: RootCA) -> None:
    cert_pem, key_pem = issue_node_certificate(
        root, node_id="node1", manager=True, cluster_id="cluster1",
        expiry=datetime.timedelta(days=90))
    cert = x509.load_pem_x509_certificate(cert_pem)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {NameOID.COMMON_NAME: "node1",
                       NameOID.ORGANIZATIONAL_UNIT_NAME: "swarm-manager",
                       NameOID.ORGANIZATION_NAME: "cluster1"}
    assert cert.issuer == root.certificate.subject
    cert.verify_directly_issued_by(root.certificate)
    assert b"PRIVATE KEY" in key_pem


def test_unlock_key_text_round_trip() -> None:
    key = new_unlock_key()
    text = human_readable_key(key)
    assert text.startswith("SWMKEY-1-") and "=" not in text
    assert parse_human_readable_key(text) == key
    for bad in ("x", "SWMKEY-1-!!!", "SWMKEY-2-abc"):
        with pytest.raises(errors.InvalidParameter, match="invalid key string"):
            parse_human_readable_key(bad)


def test_data_key_wrapped_by_unlock_key() -> None:
    data_key, unlock = DataKey.generate(), new_unlock_key()
    sealed = data_key.seal(b"secret material")
    assert b"secret material" not in base64.b64decode(sealed)
    wrapped = data_key.wrap(unlock)
    again = DataKey.unwrap(wrapped, unlock)
    assert again.open(sealed) == b"secret material"
    with pytest.raises(InvalidUnlockKey, match="swarm could not be unlocked: invalid key"):
        DataKey.unwrap(wrapped, new_unlock_key())
