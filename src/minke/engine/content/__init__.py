"""Blob store keyed by sha256 digest. Knows nothing of images or tags."""

from minke.engine.content.local import LocalContentStore, LocalWriter
from minke.engine.content.store import ContentStore, Descriptor, Writer, check_digest

__all__ = [
    "ContentStore",
    "Descriptor",
    "LocalContentStore",
    "LocalWriter",
    "Writer",
    "check_digest",
]
