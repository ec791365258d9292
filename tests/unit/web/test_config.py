"""The dashboard's settings: the address, the refusal to serve a non-loopback address
without TLS and a token, and the token file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from tests.support.certs import make_ca, write_leaf

from minke.daemon.listeners import ListenerError, TLSSettings
from minke.web.config import DEFAULT_PORT, parse_address, resolve

TOKEN = "s3cret-token-of-enough-length"


def test_addresses() -> None:
    assert parse_address("127.0.0.1:9180") == ("127.0.0.1", 9180)
    assert parse_address("localhost") == ("localhost", DEFAULT_PORT)
    assert parse_address("[::1]:8000") == ("::1", 8000)
    assert parse_address("http://127.0.0.1:81") == ("127.0.0.1", 81)
    for bad in ("127.0.0.1:0", "127.0.0.1:x", "::1:80", "127.0.0.1:80/path", ""):
        with pytest.raises(ListenerError, match="--web address"):
            parse_address(bad)


def test_non_loopback_needs_tls_and_token(tmp_path: Path) -> None:
    with pytest.raises(ListenerError, match=r"without TLS \(--tlscert/--tlskey\) and "
                                            "--web-token-file"):
        resolve("0.0.0.0:9180", token_file=None, tls=None, exec_root=tmp_path)
    token = tmp_path / "token"
    token.write_text(TOKEN)
    with pytest.raises(ListenerError, match="without TLS"):
        resolve("192.0.2.1:9180", token_file=str(token), tls=None, exec_root=tmp_path)
    assert not (tmp_path / "web.token").exists()  # refused before anything is written


def test_non_loopback_with_tls_and_token(tmp_path: Path) -> None:
    ca = make_ca()
    server = write_leaf(ca, tmp_path / "certs", server=True)
    tls = TLSSettings(verify=True, cacert=str(server / "ca.pem"),
                      cert=str(server / "cert.pem"), key=str(server / "key.pem"))
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    with pytest.raises(ListenerError, match="without --web-token-file"):
        resolve("0.0.0.0:9180", token_file=None, tls=tls, exec_root=tmp_path)
    config = resolve("0.0.0.0:9443", token_file=str(token), tls=tls, exec_root=tmp_path)
    assert config.token == TOKEN and config.tls is not None
    assert config.url == "https://0.0.0.0:9443" and not config.loopback


def test_loopback_makes_a_private_token(tmp_path: Path) -> None:
    config = resolve("127.0.0.1:9180", token_file=None, tls=None, exec_root=tmp_path)
    path = tmp_path / "web.token"
    assert config.token_file == path and path.read_text().strip() == config.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = resolve("127.0.0.1:9180", token_file=None, tls=None, exec_root=tmp_path)
    assert again.token != config.token  # a new one per start


def test_short_or_missing_token_file(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ListenerError, match="at least 16 characters"):
        resolve("127.0.0.1:9180", token_file=str(short), tls=None, exec_root=tmp_path)
    with pytest.raises(ListenerError, match="cannot read --web-token-file"):
        resolve("127.0.0.1:9180", token_file=str(tmp_path / "none"), tls=None,
                exec_root=tmp_path)
