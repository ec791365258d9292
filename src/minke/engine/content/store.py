"""The content store's vocabulary: digests, descriptors and the ``ContentStore`` protocol.

A blob store keyed by sha256 digest, in the shape of containerd's ``core/content``. It knows
nothing of images, tags or layers: callers decide what a blob means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from minke.errors import InvalidParameter

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """``digest`` if it is ``sha256:<64 lowercase hex>``; InvalidParameter otherwise."""
    if not _DIGEST.match(digest):
        raise InvalidParameter(f"invalid digest: {digest!r}")
    return digest


@dataclass(frozen=True)
class Descriptor:
    """What is known of a committed blob: its digest and its size in bytes."""

    digest: str
    size: int


class Writer(Protocol):
    """One ingest in progress: bytes go to a temporary file while they are hashed.

    ``commit`` verifies, fsyncs and renames, after which the blob is visible; ``abort``
    (or leaving the ``with`` block without commit) removes the temporary file.
    """

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    def write(self, data: bytes) -> int: ...

    def commit(self, expected: str | None = None, size: int | None = None) -> Descriptor: ...

    def abort(self) -> None: ...


class ContentStore(Protocol):
    """Blobs keyed by digest. Lifecycle: ingest (``writer`` or ``ingest``) → verify → commit
    → readable through ``open``/``path`` → ``delete``. A blob is never visible half-written.

    ``ingest`` raises InvalidParameter when the bytes do not match ``expected``; ``open``,
    ``path`` and ``info`` raise NotFound for an absent digest.
    """

    def exists(self, digest: str) -> bool: ...

    def info(self, digest: str) -> Descriptor: ...

    def open(self, digest: str) -> BinaryIO: ...

    def path(self, digest: str) -> Path: ...

    def writer(self) -> Writer: ...

    def ingest(
        self,
        stream: BinaryIO | Iterable[bytes],
        *,
        expected: str | None = None,
        size: int | None = None,
    ) -> Descriptor: ...

    def delete(self, digest: str) -> bool: ...

    def list(self) -> list[str]: ...
