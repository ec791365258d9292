"""Docker image references: parsing, normalisation and the familiar form shown to users.

Follows distribution/reference (``ParseNormalizedNamed``, ``FamiliarString``): a bare name
lives on ``docker.io``, official images under ``library/``, a missing tag is ``latest``.
``busybox`` → ``docker.io/library/busybox:latest``; ``localhost:5000/a/b:t`` keeps its
registry; ``name@sha256:…`` is a digest reference. Invalid input raises InvalidParameter
with Docker's text "invalid reference format".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minke.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANY_CASE_NAME = re.compile(rf"^((?:{_DOMAIN}/)?[a-zA-Z0-9._/-]+)(?::{_TAG})?(?:@{_DIGEST})?$")
_TAG_ONLY = re.compile(rf"^{_TAG}$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_SHA256_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")

INVALID = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    """A normalised reference: ``domain/path`` plus an optional tag and digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as users write it: ``busybox``, ``user/app``, ``localhost:5000/a``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path.removeprefix(OFFICIAL_PREFIX) if self.path.count("/") == 1 else self.path

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def tagged_or_latest(self) -> Reference:
        """``TagNameOnly``: the reference with ``latest`` when it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse(text: str) -> Reference:
    """Docker's ``ParseNormalizedNamed``: a reference, normalised; no default tag added."""
    if _HEX64.match(text):
        raise InvalidParameter(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    match = _REFERENCE.match(text)
    if match is None:
        if _ANY_CASE_NAME.match(text) and text != text.lower():
            raise InvalidParameter(f"{INVALID}: repository name must be lowercase")
        raise InvalidParameter(INVALID)
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidParameter(
            f"{INVALID}: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    domain, path = _split_domain(name)
    if path != path.lower():
        raise InvalidParameter(f"{INVALID}: repository name must be lowercase")
    if digest is not None and not _SHA256_DIGEST.match(digest):
        raise InvalidParameter(f"{INVALID}: unsupported digest algorithm")
    return Reference(domain, path, tag, digest)


def parse_tagged(text: str) -> Reference:
    """``parse`` with ``latest`` added when neither tag nor digest is given."""
    return parse(text).tagged_or_latest()


def check_tag(tag: str) -> str:
    if not _TAG_ONLY.match(tag):
        raise InvalidParameter(f"{INVALID}: invalid tag {tag!r}")
    return tag


def familiar(ref: str) -> str:
    """The familiar form of a stored, normalised reference string."""
    return parse(ref).familiar()


def is_id_like(text: str) -> bool:
    """Whether ``text`` could be an image id or an id prefix (``sha256:`` optional)."""
    hex_ = text.removeprefix("sha256:")
    return bool(hex_) and len(hex_) <= 64 and all(c in "0123456789abcdef" for c in hex_)
