"""Encryption at rest for the swarm's secret material, and the unlock key (autolock).

A random *data key* (DEK) seals secret material (the root CA's key, a node's key, and
later secrets' data) with AES-256-GCM before it reaches the store or the disk. The DEK
itself is kept on the node either in the clear (no autolock) or wrapped with a key derived
(HKDF-SHA256) from the *unlock key*, which is never written anywhere: after a restart the
node stays locked until someone gives it back. Unlock keys are shown as Docker's
``SWMKEY-1-<base64>``.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from minke import errors

KEY_BYTES = 32
NONCE_BYTES = 12
HUMAN_PREFIX = "SWMKEY-1-"
_KEK_INFO = b"minke swarm key-encryption key"


class InvalidUnlockKey(errors.Unauthorized):
    """Docker's answer to an unlock key that does not open the node's data key."""

    def __init__(self) -> None:
        super().__init__("swarm could not be unlocked: invalid key provided")


def new_unlock_key() -> bytes:
    return os.urandom(KEY_BYTES)


def human_readable_key(key: bytes) -> str:
    return HUMAN_PREFIX + base64.b64encode(key).decode().rstrip("=")


def parse_human_readable_key(text: str) -> bytes:
    """The key in ``SWMKEY-1-…``; ``InvalidParameter("invalid key string")`` as Docker."""
    if not text.startswith(HUMAN_PREFIX):
        raise errors.InvalidParameter("invalid key string")
    body = text[len(HUMAN_PREFIX):]
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except ValueError:
        raise errors.InvalidParameter("invalid key string") from None


class DataKey:
    """The node's data key: seals and opens secret material."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> DataKey:
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    def seal(self, plaintext: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext, None)).decode()

    def open(self, sealed: str) -> bytes:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
        except InvalidTag:
            raise errors.InternalError("sealed swarm data does not open with this node's "
                                       "data key") from None

    def wrap(self, unlock_key: bytes) -> str:
        """The DEK sealed with the key derived from ``unlock_key``."""
        return DataKey(_kek(unlock_key)).seal(self.key)

    @classmethod
    def unwrap(cls, wrapped: str, unlock_key: bytes) -> DataKey:
        """The DEK from ``wrap``'s output; ``InvalidUnlockKey`` for the wrong key."""
        try:
            return cls(DataKey(_kek(unlock_key)).open(wrapped))
        except errors.InternalError:
            raise InvalidUnlockKey() from None


def _kek(unlock_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=_KEK_INFO).derive(unlock_key)
