"""A small HTTP/1.1 client connection for the daemon's socket.

Owns request framing (Content-Length, or chunked for streamed uploads) and response reading
(Content-Length, chunked, or until close) over one socket. The standard library's
``http.client`` would do, but it imports ``email`` and ``ssl``, about 30 ms of every CLI
start; the Docker API needs only this much of HTTP.
"""

from __future__ import annotations

import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import IO

READ_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024  # bytes; a response head larger than this is not a Docker daemon
UPLOAD_CHUNK = 64 * 1024


class ProtocolError(ConnectionError):
    """The peer broke HTTP framing or closed the connection mid-message."""


class Reader:
    """A socket with a read-ahead buffer, so that bytes read past a response head stay
    available to whoever reads the body (or the hijacked stream) next."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def fill(self) -> bool:
        data = self.sock.recv(READ_SIZE)
        self.buffer += data
        return bool(data)

    def take(self, size: int) -> bytes:
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_until(self, marker: bytes, limit: int = MAX_HEAD) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise ProtocolError("response head too large")
            if not self.fill():
                raise ProtocolError("connection closed by the daemon")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read_head(self) -> tuple[int, dict[str, str]]:
        lines = self.read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise ProtocolError(f"malformed status line: {lines[0]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers


class Response:
    """A response whose body is read on demand: ``read1`` for streams, ``read`` for all."""

    def __init__(self, reader: Reader, status: int, headers: dict[str, str],
                 on_done: Callable[[bool], None], *, head_only: bool = False) -> None:
        self.status = status
        self.headers = headers
        self._reader = reader
        self._on_done = on_done
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining = int(length) if length is not None and not self._chunked else None
        if head_only or status in (101, 204, 304) or (100 <= status < 200):
            self._remaining = 0
            self._chunked = False
        self._chunk_left = 0
        self._done = False
        if self._remaining == 0:
            self._finish()

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            reusable = self.headers.get("connection", "").lower() != "close" and (
                self._chunked or self._remaining is not None
            )
            self._on_done(reusable)

    def read1(self, size: int = READ_SIZE) -> bytes:
        """Some of the body as soon as any is there; b"" at its end."""
        if self._done:
            return b""
        reader = self._reader
        if self._chunked:
            if self._chunk_left == 0:
                line = reader.read_until(b"\r\n")
                self._chunk_left = int(line.split(b";")[0].strip() or b"0", 16)
                if self._chunk_left == 0:
                    reader.read_until(b"\r\n")  # the (empty) trailer
                    self._finish()
                    return b""
            if not reader.buffer and not reader.fill():
                raise ProtocolError("connection closed inside a chunk")
            data = reader.take(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                reader.read_until(b"\r\n")
            return data
        if not reader.buffer and not reader.fill():
            if self._remaining:
                raise ProtocolError("connection closed before the end of the body")
            self._finish()
            return b""
        want = size if self._remaining is None else min(size, self._remaining)
        data = reader.take(want)
        if self._remaining is not None:
            self._remaining -= len(data)
            if self._remaining == 0:
                self._finish()
        return data

    def read(self) -> bytes:
        parts = []
        while data := self.read1():
            parts.append(data)
        return b"".join(parts)


class Connection:
    """One keep-alive connection; a socket factory supplies unix or TCP sockets."""

    def __init__(self, connect: Callable[[], socket.socket], host_header: str) -> None:
        self._connect = connect
        self._host_header = host_header
        self.sock: socket.socket | None = None
        self._reader: Reader | None = None
        self._method = "GET"

    def request(self, method: str, path: str, body: bytes | IO[bytes] | None = None,
                headers: Mapping[str, str] | None = None) -> None:
        if self.sock is None:
            self.sock = self._connect()
            self._reader = Reader(self.sock)
        self._method = method
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        streamed = body is not None and not isinstance(body, bytes | bytearray)
        if streamed:
            lines.append("Transfer-Encoding: chunked")
        elif body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if streamed:
            self.sock.sendall(head)
            while chunk := body.read(UPLOAD_CHUNK):  # type: ignore[union-attr]
                self.sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.sock.sendall(b"0\r\n\r\n")
        else:
            self.sock.sendall(head + (body or b""))

    def getresponse(self) -> Response:
        assert self._reader is not None, "request() first"
        status, headers = self._reader.read_head()
        return Response(self._reader, status, headers, self._done,
                        head_only=self._method == "HEAD")

    def _done(self, reusable: bool) -> None:
        if not reusable:
            self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self._reader = None
