"""TLSServerProtocol keeps writing after the client's half-close, by close_notify (Go's
tls.Conn.CloseWrite, the docker CLI) or by a TCP FIN (the minke CLI), and ends with
close_notify; a client without a certificate never reaches the application."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.certs import make_ca, write_leaf

from minke.daemon.tlsserver import TLSServerProtocol


class Echo(asyncio.Protocol):
    """Collects input; at its end answers with what it got, then more, then closes, as a
    hijacked exec's output outlives its stdin."""

    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Echo.connections += 1
        self.transport = transport
        self.data = b""

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        assert isinstance(self.transport, asyncio.Transport)
        self.transport.write(b"got:" + self.data)
        asyncio.get_running_loop().call_later(0.05, self._finish)
        return True

    def _finish(self) -> None:
        assert isinstance(self.transport, asyncio.Transport)
        self.transport.write(b";later")
        self.transport.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("certs")
    ca = make_ca()
    return (write_leaf(ca, base / "server", server=True),
            write_leaf(ca, base / "client", server=False),
            write_leaf(make_ca("other"), base / "other", server=False))


@pytest.fixture
def server(certs: tuple[Path, Path, Path]) -> Iterator[int]:
    """A TLSServerProtocol + Echo server on 127.0.0.1 in a thread; yields its port."""
    server_dir = certs[0]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_dir / "cert.pem", server_dir / "key.pem")
    context.load_verify_locations(server_dir / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(loop.create_server(
        lambda: TLSServerProtocol(context, Echo()), "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        srv.close()
        loop.run_until_complete(srv.wait_closed())
        loop.close()


def _client_context(directory: Path, ca: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def _read_all(recv: Callable[[], bytes]) -> bytes:
    out = b""
    while chunk := recv():
        out += chunk
    return out


def test_tcp_half_close_keeps_the_output_coming(server: int, certs) -> None:
    _, client_dir, _ = certs
    context = _client_context(client_dir, client_dir / "ca.pem")
    with socket.create_connection(("127.0.0.1", server), 10) as raw:
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        sock.sendall(b"stdin")
        socket.socket.shutdown(sock, socket.SHUT_WR)
        assert _read_all(lambda: sock.recv(4096)) == b"got:stdin;later"


def test_close_notify_half_close_keeps_the_output_coming(server: int, certs) -> None:
    _, client_dir, _ = certs
    context = _client_context(client_dir, client_dir / "ca.pem")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", server), 10) as sock:
        def pump() -> bytes:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
            return data

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
        tls.write(b"stdin")
        with pytest.raises(ssl.SSLWantReadError):
            tls.unwrap()  # close_notify queued: our side has ended
        output = b""
        while True:
            try:
                output += tls.read(65536)
            except ssl.SSLWantReadError:
                assert pump(), f"connection closed without close_notify after {output!r}"
            except ssl.SSLZeroReturnError:
                break  # the server's close_notify
        assert output == b"got:stdin;later"


@pytest.mark.parametrize("which", ["none", "other CA"])
def test_client_without_a_valid_certificate_is_refused(server: int, certs, which) -> None:
    server_dir, _, other_dir = certs
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(server_dir / "ca.pem")
    if which == "other CA":
        context.load_cert_chain(other_dir / "cert.pem", other_dir / "key.pem")
    before = Echo.connections
    with socket.create_connection(("127.0.0.1", server), 10) as raw:
        # TLS 1.3 finishes the client's handshake before the server checks its certificate:
        # the refusal arrives as an alert on the first read.
        with pytest.raises(ssl.SSLError) as info:
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(b"x")
            sock.recv(10)
    assert "CERTIFICATE" in str(info.value).upper() or "UNKNOWN_CA" in str(info.value)
    assert Echo.connections == before
