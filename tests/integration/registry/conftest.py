"""Real registries on loopback for the registry tests (and the benchmark): Debian's
``docker-registry`` (the distribution registry) with filesystem storage in a temporary
directory, optionally behind htpasswd basic auth or a bearer token server written here.

Every registry is started by these helpers and stopped by its PID at teardown.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    config: Path = field(default_factory=Path)
    users: dict[str, str] = field(default_factory=dict)
    netns_pid: int | None = None  # run inside that process's network namespace

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [REGISTRY_BIN, "serve", str(self.config)]
        if self.netns_pid is not None:
            cmd = ["nsenter", "-t", str(self.netns_pid), "-n", *cmd]
        log = (self.root / "registry.log").open("ab")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("docker-registry exited: "
                                   + (self.root / "registry.log").read_text()[-2000:])
            if self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not answer")

    def _answers(self) -> bool:
        if self.netns_pid is not None:
            probe = subprocess.run(["nsenter", "-t", str(self.netns_pid), "-n", "bash", "-c",
                                    f"exec 3<>/dev/tcp/127.0.0.1/{self.port}"],
                                   capture_output=True, check=False)
            return probe.returncode == 0
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop our registry by its PID (SIGKILL: the tests kill it mid-pull too)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def __enter__(self) -> Registry:
        """Serve for the ``with`` block; stopped again if it never answers."""
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def make_registry(root: Path, *, users: dict[str, str] | None = None,
                  token: dict[str, str] | None = None, netns_pid: int | None = None,
                  port: int | None = None) -> Registry:
    """A registry (not started) storing under ``root``. ``users`` turns on htpasswd basic
    auth; ``token`` (``realm``, ``service``, ``issuer``, ``rootcertbundle``) bearer auth."""
    root.mkdir(parents=True, exist_ok=True)
    reg = Registry(root, port or free_port(), users=dict(users or {}), netns_pid=netns_pid)
    auth = ""
    if users:
        htpasswd = root / "htpasswd"
        for i, (user, password) in enumerate(users.items()):
            subprocess.run(["htpasswd", "-B", "-b", *([] if i else ["-c"]), str(htpasswd),
                            user, password], check=True, capture_output=True)
        auth = f"auth:\n  htpasswd:\n    realm: minke-test\n    path: {htpasswd}\n"
    elif token:
        auth = ("auth:\n  token:\n" + "".join(f"    {k}: {v}\n" for k, v in token.items()))
    reg.config = root / "config.yml"
    reg.config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{reg.port}\n  secret: minke-test-secret\n"
        + auth
    )
    return reg


class TokenServer:
    """A bearer token server (the distribution token spec) on loopback: ``GET /token``
    with basic credentials of ``users`` (or none: anonymous, granted nothing) answers a JWT
    signed RS256 with a self-signed certificate the registry trusts (``x5c`` header)."""

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        self.root = root
        self.users = users
        self.port = free_port()
        self.key = root / "token.key"
        self.cert = root / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=minke-test-token", "-keyout", str(self.key),
                        "-out", str(self.cert)], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[dict[str, str]] = []
        self._thread: object = None
        self._stop: object = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def settings(self) -> dict[str, str]:
        return {"realm": self.realm, "service": "minke-test-registry",
                "issuer": "minke-test-issuer", "rootcertbundle": str(self.cert)}

    def _sign(self, claims: dict[str, object]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing.encode(), check=True, capture_output=True).stdout
        return f"{signing}.{b64(sig)}"

    def start(self) -> None:
        import asyncio
        import threading

        from aiohttp import web

        async def token(request: web.Request) -> web.Response:
            self.requests.append(dict(request.query))
            user = ""
            header = request.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if self.users.get(user) != password:
                    return web.json_response(
                        {"errors": [{"code": "UNAUTHORIZED",
                                     "message": "invalid username or password"}]}, status=401)
            access = []
            for scope in request.query.getall("scope", []):
                kind, name, actions = scope.split(":")
                if user:  # anonymous users are granted nothing
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            claims = {"iss": "minke-test-issuer", "sub": user, "aud": "minke-test-registry",
                      "exp": now + 300, "nbf": now - 10, "iat": now,
                      "jti": base64.b16encode(os.urandom(8)).decode(), "access": access}
            return web.json_response({"token": self._sign(claims), "expires_in": 300})

        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_get("/token", token)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._runner = runner
            ready.set()

        def run() -> None:
            loop.run_until_complete(serve())
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()  # type: ignore[attr-defined]
        ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def registry_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mk-reg-", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def registry(registry_root: Path) -> Iterator[Registry]:
    """An open registry (no auth) on 127.0.0.1, insecure by default as loopback."""
    with make_registry(registry_root / "open") as reg:
        yield reg


@pytest.fixture(scope="session")
def auth_registry(registry_root: Path) -> Iterator[Registry]:
    """A registry behind htpasswd basic auth; user ``alice``, password ``s3cret``."""
    with make_registry(registry_root / "basic", users={"alice": "s3cret"}) as reg:
        yield reg


@pytest.fixture(scope="session")
def token_registry(registry_root: Path) -> Iterator[tuple[Registry, TokenServer]]:
    """A registry behind the token server above; user ``bob``, password ``hunter2``."""
    server = TokenServer(registry_root, {"bob": "hunter2"})
    server.start()
    try:
        with make_registry(registry_root / "token", token=server.settings()) as reg:
            yield reg, server
    finally:
        server.stop()


@pytest.fixture()
def docker_config(tmp_path: Path) -> Path:
    """An empty DOCKER_CONFIG directory, so logins never touch the real ~/.docker."""
    path = tmp_path / "docker-config"
    path.mkdir()
    return path
