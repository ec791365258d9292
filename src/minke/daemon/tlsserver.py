"""TLS for the API's TCP listeners that keeps a connection open after the client's half-close.

asyncio's own TLS layer (``asyncio.sslproto``) closes a connection as soon as the client
ends its side, by a close_notify alert or a TCP FIN; "returning true from eof_received()
has no effect when using ssl". The docker CLI ends its side of every hijacked attach or
exec connection when its stdin ends (Go's ``tls.Conn.CloseWrite`` sends close_notify;
older clients shut the TCP socket for writing) and reads the output until the daemon
closes, as dockerd allows. So this module runs TLS itself on memory BIOs: the end of the
client's stream reaches the application as ``eof_received``; if the application keeps the
connection (the hijacked stream does), it goes on writing until it closes, and closing
sends close_notify. ``TLSSite`` serves an aiohttp runner this way. Certificates and
contexts are the caller's business.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("minked")

READ_SIZE = 256 * 1024
HANDSHAKE_TIMEOUT = 60.0  # s; a peer that connects and never completes the handshake


class TLSServerProtocol(asyncio.Protocol):
    """Speaks TLS on one accepted TCP connection and hands the plaintext to ``app``, which
    sees a ``TLSTransport`` once the handshake has succeeded (and nothing otherwise)."""

    def __init__(self, context: ssl.SSLContext, app: asyncio.Protocol) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.sslobj = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.context = context
        self.app = app
        self.tcp: asyncio.Transport | None = None
        self._app_transport = TLSTransport(self)
        self._handshaken = False
        self._timer: asyncio.TimerHandle | None = None
        self.reading_paused = False
        self._peer_done = False  # close_notify or FIN from the client: no more input
        self._fin_pending = False  # FIN arrived while reading was paused
        self.closing = False
        self._backlog: list[bytes] = []

    # the TCP side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.tcp = transport
        self._timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._timeout)

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        self.process()

    def eof_received(self) -> bool:
        if not self._handshaken:
            return False
        if self.reading_paused:
            self._fin_pending = True
        else:
            self.process()
            self._end_of_input()
        return True  # our side stays open until the application closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.closing = True
        if self._handshaken:
            self.app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._handshaken:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self._handshaken:
            self.app.resume_writing()

    # TLS

    def process(self) -> None:
        """Advance the handshake, deliver what can be decrypted, send what TLS produced."""
        if self.closing or (not self._handshaken and not self._handshake()):
            return
        self._write_backlog()
        while not (self.reading_paused or self._peer_done or self.closing):
            try:
                data = self.sslobj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify: the client's half-close
                self._end_of_input()
                break
            except ssl.SSLError as exc:
                log.info("TLS error from %s: %s", self._peer(), exc)
                self.abort()
                return
            if not data:
                self._end_of_input()
                break
            self.app.data_received(data)
        if self._fin_pending and not self.reading_paused:
            self._fin_pending = False
            self._end_of_input()
        self._flush()

    def _handshake(self) -> bool:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", self._peer(), exc)
            self._flush()  # the alert tells the client why
            self.closing = True
            assert self.tcp is not None
            self.tcp.close()
            return False
        self._handshaken = True
        self._cancel_timer()
        self.app.connection_made(self._app_transport)
        return True

    def _end_of_input(self) -> None:
        if self._peer_done or self.closing:
            return
        self._peer_done = True
        if not self.app.eof_received():
            self.close()

    def write(self, data: bytes) -> None:
        if self.closing or not data:
            return
        self._backlog.append(data)
        self._write_backlog()
        self._flush()

    def _write_backlog(self) -> None:
        while self._backlog:
            data = self._backlog[0]
            try:
                written = self.sslobj.write(data)
            except ssl.SSLWantReadError:
                return  # mid-handshake message; retried when the peer's answer arrives
            if written < len(data):
                self._backlog[0] = data[written:]
            else:
                del self._backlog[0]

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self.tcp is not None and not self.tcp.is_closing():
            self.tcp.write(data)

    def close(self) -> None:
        """Send what is buffered and close_notify, then close TCP (the client's answering
        close_notify is not waited for, as Go's tls.Conn.Close does not)."""
        if self.closing:
            return
        self._write_backlog()
        self.closing = True
        try:
            self.sslobj.unwrap()
        except (ssl.SSLError, OSError):
            pass  # SSLWantReadError: close_notify is queued, the peer's is not awaited
        self._flush()
        if self.tcp is not None:
            self.tcp.close()

    def abort(self) -> None:
        self.closing = True
        if self.tcp is not None:
            self.tcp.abort()

    def _timeout(self) -> None:
        log.info("TLS handshake with %s timed out", self._peer())
        self.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _peer(self) -> Any:
        return self.tcp.get_extra_info("peername") if self.tcp is not None else None


class TLSTransport(asyncio.Transport):
    """The application's view of a ``TLSServerProtocol``: plaintext in and out."""

    def __init__(self, protocol: TLSServerProtocol) -> None:
        super().__init__()
        self._tls = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        tls = self._tls
        if name == "sslcontext":
            return tls.context
        if name == "ssl_object":
            return tls.sslobj
        if name == "peercert":
            return tls.sslobj.getpeercert()
        if name == "cipher":
            return tls.sslobj.cipher()
        assert tls.tcp is not None
        return tls.tcp.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._tls.write(bytes(data))

    def can_write_eof(self) -> bool:
        return False  # TLS 1.2 has no half-close of our own; we end by closing

    def is_closing(self) -> bool:
        tcp = self._tls.tcp
        return self._tls.closing or tcp is None or tcp.is_closing()

    def close(self) -> None:
        self._tls.close()

    def abort(self) -> None:
        self._tls.abort()

    def pause_reading(self) -> None:
        if not self._tls.reading_paused:
            self._tls.reading_paused = True
            assert self._tls.tcp is not None
            self._tls.tcp.pause_reading()

    def resume_reading(self) -> None:
        if self._tls.reading_paused:
            self._tls.reading_paused = False
            assert self._tls.tcp is not None
            self._tls.tcp.resume_reading()
            # What TLS decrypted or buffered while paused gets delivered now.
            asyncio.get_running_loop().call_soon(self._tls.process)

    def is_reading(self) -> bool:
        return not self._tls.reading_paused

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol), "buffered protocols are not served"
        self._tls.app = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tls.app

    def get_write_buffer_size(self) -> int:
        assert self._tls.tcp is not None
        return self._tls.tcp.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        assert self._tls.tcp is not None
        self._tls.tcp.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        assert self._tls.tcp is not None
        return self._tls.tcp.get_write_buffer_limits()


class TLSSite(web.BaseSite):
    """An aiohttp site on ``host:port`` whose connections speak TLS through
    ``TLSServerProtocol``."""

    def __init__(self, runner: web.BaseRunner[Any], host: str, port: int,
                 context: ssl.SSLContext, *, backlog: int = 128) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._context = context

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        factory: Callable[[], asyncio.Protocol] = lambda: TLSServerProtocol(  # noqa: E731
            self._context, server())
        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, backlog=self._backlog, reuse_address=True)
