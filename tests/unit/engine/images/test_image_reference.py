from __future__ import annotations

import pytest

from minke.engine.images.reference import check_tag, familiar, is_id_like, parse, parse_tagged
from minke.errors import InvalidParameter


@pytest.mark.parametrize(
    ("text", "full", "shown"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/x:1", "docker.io/library/x:1", "x:1"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("quay.io/org/img:v1.2", "quay.io/org/img:v1.2", "quay.io/org/img:v1.2"),
        ("library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
    ],
)
def test_normalisation_and_familiar_form(text: str, full: str, shown: str) -> None:
    ref = parse_tagged(text)
    assert str(ref) == full
    assert ref.familiar() == shown
    assert familiar(full) == shown


def test_digest_reference_keeps_no_default_tag() -> None:
    digest = "sha256:" + "ab" * 32
    ref = parse_tagged(f"busybox@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert str(ref) == f"docker.io/library/busybox@{digest}"
    assert ref.familiar() == f"busybox@{digest}"


@pytest.mark.parametrize(
    "bad", ["", "a:b:c", "UPPER", "ghcr.io/Org/x", "-lead", "a//b", "x:", "x@sha256:12", "a b"]
)
def test_invalid_reference_format(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        parse(bad)


def test_sixty_four_hex_is_not_a_repository() -> None:
    with pytest.raises(InvalidParameter, match="64-byte hexadecimal"):
        parse("a" * 64)


def test_tags_and_id_prefixes() -> None:
    assert check_tag("v1.0_rc-2") == "v1.0_rc-2"
    with pytest.raises(InvalidParameter):
        check_tag("-bad")
    assert is_id_like("abc123") and is_id_like("sha256:0f")
    assert not is_id_like("busybox") and not is_id_like("")
