from __future__ import annotations

import pytest

from minke.cli.context import CLIError
from minke.cli.terminal import EscapeProxy, parse_detach_keys


def test_parse_detach_keys() -> None:
    assert parse_detach_keys(None) == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    assert parse_detach_keys("ctrl-@") == b"\x00"
    with pytest.raises(CLIError):
        parse_detach_keys("ctrl-1")
    with pytest.raises(CLIError):
        parse_detach_keys("abc")


def test_escape_proxy_detects_sequence_across_reads() -> None:
    proxy = EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ls\x10") == (b"ls", False)
    assert proxy.feed(b"\x11") == (b"", True)


def test_escape_proxy_releases_a_partial_match() -> None:
    proxy = EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"\x10") == (b"", False)
    assert proxy.feed(b"a") == (b"\x10a", False)
