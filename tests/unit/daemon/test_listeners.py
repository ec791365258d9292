"""``-H`` addresses and TLS settings as dockerd reads them, and the refusal of
unauthenticated TCP on a public address."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.certs import make_ca, write_leaf

from minke.daemon.listeners import (
    Address,
    ListenerError,
    is_loopback,
    parse_address,
    resolve,
    server_context,
)


def test_address_forms() -> None:
    assert parse_address("unix:///tmp/m.sock", tls=False) == Address("unix", path="/tmp/m.sock")
    assert parse_address("unix://", tls=False).path == "/run/minke/minke.sock"
    assert parse_address("tcp://10.0.0.1", tls=False) == Address("tcp", host="10.0.0.1",
                                                                  port=2375)
    assert parse_address("tcp://10.0.0.1", tls=True).port == 2376
    assert parse_address("tcp://", tls=True) == Address("tcp", host="localhost", port=2376)
    assert parse_address("tcp://:4243", tls=False) == Address("tcp", host="localhost",
                                                              port=4243)
    assert parse_address("127.0.0.1:4243", tls=False) == Address("tcp", host="127.0.0.1",
                                                                 port=4243)
    assert parse_address("tcp://[::1]:2376", tls=False) == Address("tcp", host="::1",
                                                                   port=2376)
    assert str(Address("tcp", host="::1", port=2376)) == "tcp://[::1]:2376"


@pytest.mark.parametrize(("value", "message"), [
    ("ftp://x", "unsupported proto 'ftp'"),
    ("fd://", "not supported"),
    ("tcp://1.2.3.4:99999", "invalid port: 99999"),
    ("tcp://1.2.3.4:x", "invalid port: x"),
    ("tcp://1.2.3.4:2375/path", "path element"),
    ("tcp://::1:2375", "brackets"),
])
def test_bad_addresses_name_the_value(value: str, message: str) -> None:
    with pytest.raises(ListenerError) as info:
        parse_address(value, tls=False)
    assert value in str(info.value) and message in str(info.value)


def test_plain_tcp_on_a_public_address_is_refused() -> None:
    with pytest.raises(ListenerError) as info:
        resolve(["tcp://0.0.0.0:2375"], None, None)
    assert "refusing to listen on tcp://0.0.0.0:2375" in str(info.value)
    assert "--tls=false" in str(info.value)
    with pytest.raises(ListenerError):
        resolve(["unix:///tmp/x.sock", "0.0.0.0"], None, None)


def test_plain_tcp_is_allowed_on_loopback_or_when_forced() -> None:
    addresses, tls = resolve(["tcp://127.0.0.1:2375", "tcp://localhost"], None, None)
    assert tls is None and [a.port for a in addresses] == [2375, 2375]
    addresses, tls = resolve(["tcp://0.0.0.0:2375"], False, None)
    assert tls is None and addresses == [Address("tcp", host="0.0.0.0", port=2375)]


def test_tls_settings_follow_dockerd(tmp_path: Path) -> None:
    env = {"DOCKER_CERT_PATH": str(tmp_path)}
    # --tlsverify: TLS, clients verified, files in DOCKER_CERT_PATH, default host on 2376.
    addresses, tls = resolve(None, None, True, environ=env)
    assert addresses == [Address("tcp", host="localhost", port=2376)]
    assert tls is not None and tls.verify and tls.cacert == str(tmp_path / "ca.pem")
    # --tls alone verifies clients too (dockerd since 20.10) ...
    _, tls = resolve(["tcp://0.0.0.0"], True, None, environ=env)
    assert tls is not None and tls.verify
    # ... unless --tlsverify=false, which still means TLS: allowed on a public address.
    addresses, tls = resolve(["tcp://0.0.0.0"], None, False, environ=env)
    assert tls is not None and not tls.verify and addresses[0].port == 2376
    # No TLS flag: the unix socket.
    addresses, tls = resolve(None, None, None, environ=env)
    assert tls is None and addresses == [Address("unix", path="/run/minke/minke.sock")]
    addresses, _ = resolve(["unix:///a.sock", "unix:///a.sock", "tcp://127.0.0.1:1"], None,
                           None)
    assert len(addresses) == 2


def test_missing_certificate_files_are_named(tmp_path: Path) -> None:
    certs = write_leaf(make_ca(), tmp_path / "server", server=True)
    _, tls = resolve(None, None, True, str(tmp_path / "nope.pem"), str(certs / "cert.pem"),
                     str(certs / "key.pem"))
    assert tls is not None
    with pytest.raises(ListenerError) as info:
        server_context(tls)
    assert str(tmp_path / "nope.pem") in str(info.value) and "--tlscacert" in str(info.value)
    _, tls = resolve(None, None, True, environ={"DOCKER_CERT_PATH": str(tmp_path)})
    assert tls is not None
    with pytest.raises(ListenerError) as info:
        server_context(tls)
    assert str(tmp_path / "cert.pem") in str(info.value) and "--tlscert" in str(info.value)
    (tmp_path / "bad.pem").write_text("not a certificate")
    _, tls = resolve(None, None, True, str(tmp_path / "bad.pem"), str(certs / "cert.pem"),
                     str(certs / "key.pem"))
    assert tls is not None
    with pytest.raises(ListenerError) as info:
        server_context(tls)
    assert str(tmp_path / "bad.pem") in str(info.value)


def test_server_context_requires_client_certificates(tmp_path: Path) -> None:
    import ssl

    certs = write_leaf(make_ca(), tmp_path, server=True)
    _, tls = resolve(None, None, True, str(certs / "ca.pem"), str(certs / "cert.pem"),
                     str(certs / "key.pem"))
    assert tls is not None
    assert server_context(tls).verify_mode == ssl.CERT_REQUIRED
    _, tls = resolve(None, None, False, str(certs / "ca.pem"), str(certs / "cert.pem"),
                     str(certs / "key.pem"))
    assert tls is not None
    assert server_context(tls).verify_mode == ssl.CERT_NONE


def test_loopback() -> None:
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert not is_loopback("no-such-host.invalid")


def test_daemon_json_tls_listener_serves_beside_unix(tmp_path: Path) -> None:
    """daemon.json's hosts and tls* keys, through minked's parse_args, become a unix socket
    and a TLS listener that only certified clients get through."""
    import asyncio
    import grp
    import json
    import os
    import socket
    import ssl
    import threading

    from aiohttp import web

    from minke.daemon import listeners
    from minke.daemon.main import parse_args

    ca = make_ca()
    server = write_leaf(ca, tmp_path / "server", server=True)
    client = write_leaf(ca, tmp_path / "client", server=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({
        "hosts": [f"unix://{tmp_path}/api.sock", f"tcp://127.0.0.1:{port}"],
        "tlsverify": True, "tlscacert": str(server / "ca.pem"),
        "tlscert": str(server / "cert.pem"), "tlskey": str(server / "key.pem")}))
    args = parse_args(["--config-file", str(config)])

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/_ping", ping)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    group = grp.getgrgid(os.getgid()).gr_name  # one we may chgrp to without root
    loop.run_until_complete(listeners.start(runner, args.listen, args.tls_context,
                                            group=group))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    request = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    def get(sock: socket.socket) -> bytes:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
        return out

    try:
        with socket.socket(socket.AF_UNIX) as unix:
            unix.connect(str(tmp_path / "api.sock"))
            assert get(unix).endswith(b"\r\n\r\nOK")
        context = ssl.create_default_context(cafile=str(client / "ca.pem"))
        context.load_cert_chain(client / "cert.pem", client / "key.pem")
        with socket.create_connection(("127.0.0.1", port), 10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert get(tls).endswith(b"\r\n\r\nOK")
        bare = ssl.create_default_context(cafile=str(client / "ca.pem"))
        with socket.create_connection(("127.0.0.1", port), 10) as raw:
            with pytest.raises(ssl.SSLError):
                with bare.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    get(tls)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()
