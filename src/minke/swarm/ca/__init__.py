"""The swarm's root CA and its keys: the root certificate and node certificates
(``rootca``), join tokens pinned to the root's digest, and encryption at rest with the
unlock key (``keys``)."""

from minke.swarm.ca.keys import (
    DataKey,
    InvalidUnlockKey,
    human_readable_key,
    new_unlock_key,
    parse_human_readable_key,
)
from minke.swarm.ca.rootca import (
    RootCA,
    issue_node_certificate,
    join_token,
    new_csr,
    sign_csr,
    tls_info,
    token_digest,
)

__all__ = [
    "DataKey",
    "InvalidUnlockKey",
    "RootCA",
    "human_readable_key",
    "issue_node_certificate",
    "join_token",
    "new_csr",
    "new_unlock_key",
    "parse_human_readable_key",
    "sign_csr",
    "tls_info",
    "token_digest",
]
