"""Hijacked connections: an HTTP request whose socket then carries raw bytes both ways.

Owns the upgrade handshake for ``/containers/{id}/attach`` and ``/exec/{id}/start``
(``Connection: Upgrade`` + ``Upgrade: tcp`` → ``101``; a plain ``200`` is hijacked too, as
dockerd does without the headers) and the half-close contract: ``close_write`` shuts down
our sending side when local stdin ends while output keeps flowing until the server closes.
What the bytes mean (frames or raw tty) is the caller's business.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from minke import httperrors

from .http11 import ProtocolError, Reader, Response
from .tls import shutdown_write
from .transport import Host, connection_failed, error_message, open_socket

READ_SIZE = 32 * 1024


class HijackedConnection:
    """The raw two-way stream after a successful upgrade."""

    def __init__(self, sock: socket.socket, leftover: bytes, headers: dict[str, str]) -> None:
        self.sock = sock
        self.headers = headers
        # Bytes that arrived together with the response head belong to the stream.
        self._leftover = leftover
        self._write_closed = False

    def recv(self, size: int = READ_SIZE) -> bytes:
        """Up to ``size`` bytes of output; ``b""`` once the server has closed."""
        if self._leftover:
            data, self._leftover = self._leftover[:size], self._leftover[size:]
            return data
        try:
            return self.sock.recv(size)
        except (ConnectionResetError, OSError) as exc:
            if self.sock.fileno() == -1 or isinstance(exc, ConnectionResetError):
                return b""
            raise

    def chunks(self) -> Iterator[bytes]:
        while data := self.recv():
            yield data

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Tell the server our stdin ended; it closes the process's stdin, output continues."""
        if self._write_closed:
            return
        self._write_closed = True
        try:
            shutdown_write(self.sock)
        except OSError:
            pass  # already closed by the server

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HijackedConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_error_body(reader: Reader, headers: dict[str, str], status: int) -> bytes:
    """The body of a refused upgrade (a JSON error), however it is delimited."""
    return Response(reader, status, headers, lambda _reusable: None).read()


def hijack(
    host: Host,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "text/plain",
) -> HijackedConnection:
    """Send the request on a new connection and return the upgraded stream.

    Raises the ``minke.errors`` class for the status if the daemon refuses the upgrade.
    """
    sock = open_socket(host)
    try:
        request = (
            f"{method} {path} HTTP/1.1\r\n"
            "Host: api.moby.localhost\r\n"
            "User-Agent: minke-cli\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: tcp\r\n"
            "\r\n"
        ).encode("latin-1") + body
        reader = Reader(sock)
        try:
            sock.sendall(request)
            status, headers = reader.read_head()
        except ProtocolError as exc:
            raise httperrors.from_status(500, f"upgrade failed: {exc}") from exc
        except OSError as exc:  # a refused TLS certificate shows on the first read
            raise connection_failed(host, exc) from exc
        if status in (101, 200):
            return HijackedConnection(sock, reader.buffer, headers)
        raw = _read_error_body(reader, headers, status)
    except BaseException:
        sock.close()
        raise
    sock.close()
    raise httperrors.from_status(status, error_message(raw, status))
