from __future__ import annotations

import pytest

from minke.client.transport import (
    DEFAULT_HOST,
    ConnectionFailed,
    Host,
    error_message,
    open_socket,
    resolve_host,
)


def test_host_precedence() -> None:
    env = {"MINKE_HOST": "unix:///m.sock", "DOCKER_HOST": "unix:///d.sock"}
    assert resolve_host("unix:///flag.sock", env).address == "/flag.sock"
    assert resolve_host(None, env).address == "/m.sock"
    assert resolve_host(None, {"DOCKER_HOST": "unix:///d.sock"}).address == "/d.sock"
    assert resolve_host(None, {}) == Host.parse(DEFAULT_HOST)


def test_host_forms() -> None:
    assert Host.parse("/run/x.sock").scheme == "unix"
    tcp = Host.parse("tcp://127.0.0.1:2376")
    assert (tcp.scheme, tcp.address, tcp.port) == ("tcp", "127.0.0.1", 2376)
    with pytest.raises(ValueError):
        Host.parse("ssh://x")


def test_missing_socket_is_connection_failed(tmp_path) -> None:
    host = Host.parse(f"unix://{tmp_path}/none.sock")
    with pytest.raises(ConnectionFailed) as info:
        open_socket(host)
    assert "Is the minke daemon running?" in str(info.value)


def test_error_message() -> None:
    assert error_message(b'{"message": "No such container: x"}', 404) == \
        "No such container: x"
    assert error_message(b"plain", 500) == "plain"
    assert error_message(b"", 502) == "HTTP status 502"
