"""A throw-away Docker-API server on a unix socket for client and CLI tests.

Real HTTP over a real AF_UNIX socket (``http.server`` on ``socketserver``), real hijacked
connections; routes are plain functions a test registers, and every request is recorded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socketserver
import sys
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["Request"], Any]


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        url = urlsplit(handler.path)
        self.handler = handler
        self.method = handler.command
        self.raw_path = handler.path
        self.path = re.sub(r"^/v[0-9.]+", "", url.path)
        self.query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(url.query).items()}
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    # --- answers ---

    def reply(self, status: int = 200, doc: Any = None, body: bytes | None = None,
              content_type: str = "application/json", headers: dict[str, str] | None = None
              ) -> None:
        data = body if body is not None else (b"" if doc is None else json.dumps(doc).encode())
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if self.method != "HEAD":
            h.wfile.write(data)

    def chunked(self, chunks: list[bytes], content_type: str = "application/json") -> None:
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for chunk in chunks:
            h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")

    def head_now_body_later(self, ready: Any, doc: Any, timeout: float = 5) -> None:
        """dockerd's wait: the response head at once, the JSON body once ``ready`` is set."""
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        ready.wait(timeout)
        data = json.dumps(doc).encode()
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")

    def upgrade(self) -> Any:
        """Answer 101 and return the raw socket; the handler then owns the connection."""
        h = self.handler
        h.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream"
                      b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        h.wfile.flush()
        h.close_connection = True
        return h.connection


class FakeDaemon:
    """Routes: ``daemon.route("POST", r"/containers/(\\w+)/start", fn)``; fn(req, *groups)."""

    def __init__(self, api_version: str = "1.41") -> None:
        self.dir = tempfile.mkdtemp(prefix="minke-fake-")
        self.socket_path = os.path.join(self.dir, "d.sock")
        self.host = "unix://" + self.socket_path
        self.api_version = api_version
        self.requests: list[Request] = []
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = []
        daemon = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _any(self) -> None:
                req = Request(self, self._body())
                daemon.requests.append(req)
                if req.path == "/_ping":
                    req.reply(200, body=b"OK", content_type="text/plain",
                              headers={"Api-Version": daemon.api_version, "Ostype": "linux"})
                    return
                for method, pattern, fn in daemon.routes:
                    m = pattern.fullmatch(req.path)
                    if m and method == req.method:
                        fn(req, *m.groups())
                        return
                req.reply(404, {"message": f"page not found: {req.method} {req.path}"})

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _any

        class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hangs up mid-answer (the CLI exiting, a test closing a
                # stream early) is normal here; anything else still prints its traceback.
                if isinstance(sys.exc_info()[1], ConnectionError):
                    return
                super().handle_error(request, client_address)

        self.server = _Server(self.socket_path, _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def route(self, method: str, pattern: str, fn: Callable[..., Any]) -> None:
        self.routes.append((method, re.compile(pattern), fn))

    def json_route(self, method: str, pattern: str, doc: Any, status: int = 200) -> None:
        self.route(method, pattern, lambda req, *_: req.reply(status, doc))

    def paths(self) -> list[str]:
        return [f"{r.method} {r.raw_path}" for r in self.requests]

    def __enter__(self) -> FakeDaemon:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
