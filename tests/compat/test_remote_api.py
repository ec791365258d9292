"""The API over TCP with TLS: minked on ``-H unix://… -H tcp://127.0.0.1:PORT --tlsverify``
driven by the docker CLI, docker-py and ``minke`` with DOCKER_HOST/DOCKER_TLS_VERIFY/
DOCKER_CERT_PATH, and clients without a valid certificate refused."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import (
    Daemon,
    cleanup_root,
    remove_all_containers,
    start_daemon,
    stop_daemon,
    unique,
)
from tests.support.busybox import write_rootfs_tar
from tests.support.certs import make_ca, write_leaf
from tests.support.cli import DOCKER, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]

TIMEOUT = 120.0  # s


class Certs:
    def __init__(self, base: Path) -> None:
        ca = make_ca()
        self.server = write_leaf(ca, base / "server", server=True)
        self.client = write_leaf(ca, base / "client", server=False)
        # Signed by another CA, but trusting the daemon's: only the daemon can refuse it.
        self.foreign = write_leaf(make_ca("another CA"), base / "foreign", server=False)
        shutil.copy(self.client / "ca.pem", self.foreign / "ca.pem")
        self.no_cert = base / "no-cert"
        self.no_cert.mkdir()
        shutil.copy(self.client / "ca.pem", self.no_cert / "ca.pem")


class TLSDaemon:
    def __init__(self, daemon: Daemon, port: int, certs: Certs) -> None:
        self.daemon = daemon
        self.port = port
        self.certs = certs
        self.url = f"tcp://127.0.0.1:{port}"

    def env(self, cert_dir: Path | None = None) -> dict[str, str]:
        """A client environment reaching the daemon over TLS only."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("MINKE_HOST", "DOCKER_TLS", "DOCKER_CONTEXT")}
        return {**env, "DOCKER_HOST": self.url, "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(cert_dir or self.certs.client)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSDaemon]:
    certs = Certs(tmp_path_factory.mktemp("certs"))
    port = _free_port()
    server = certs.server
    root = Path(tempfile.mkdtemp(prefix="mk-tls-", dir="/tmp"))
    try:
        daemon = start_daemon(root, "-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                              "--tlscacert", str(server / "ca.pem"),
                              "--tlscert", str(server / "cert.pem"),
                              "--tlskey", str(server / "key.pem"))
    except BaseException:
        cleanup_root(root)
        raise
    try:
        # The unix socket serves beside TCP: the image goes in that way.
        client = docker.APIClient(base_url=daemon.host, version="auto")
        tar = write_rootfs_tar(tmp_path_factory.mktemp("busybox") / "rootfs.tar")
        client.import_image_from_data(tar.read_bytes(), repository="busybox", tag="latest",
                                      changes=['CMD ["sh"]'])
        client.close()
        yield TLSDaemon(daemon, port, certs)
    finally:
        if daemon.process.poll() is None:
            remove_all_containers(daemon)
        stop_daemon(daemon)
        cleanup_root(root)


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args} → {proc.returncode}: {proc.stderr}"
    return proc.stdout


MINKE = [sys.executable, "-m", "minke.cli.main"]


@needs_docker_cli
def test_docker_cli_over_tls(tls_daemon: TLSDaemon) -> None:
    env = tls_daemon.env()
    version = _ok(_run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env))
    assert version.strip() == "1.41"
    assert _ok(_run([DOCKER, "run", "--rm", "busybox", "echo", "hi"], env)) == "hi\n"
    name = unique("tls")
    _ok(_run([DOCKER, "run", "-d", "--name", name, "busybox", "sleep", "60"], env))
    try:
        assert _ok(_run([DOCKER, "exec", name, "echo", "exec-hi"], env)) == "exec-hi\n"
        # The CLI half-closes (close_notify) when stdin ends; the output still comes.
        out = _ok(_run([DOCKER, "exec", "-i", name, "sh", "-c", "cat; sleep 0.5; echo after"],
                       env, stdin="from stdin\n"))
        assert out == "from stdin\nafter\n"
    finally:
        _run([DOCKER, "rm", "-f", name], env)


def test_docker_py_over_tls(tls_daemon: TLSDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these override the CA docker-py configures (psf/requests#3829).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client_dir = tls_daemon.certs.client
    tls = docker.tls.TLSConfig(client_cert=(str(client_dir / "cert.pem"),
                                            str(client_dir / "key.pem")),
                               ca_cert=str(client_dir / "ca.pem"), verify=True)
    client = docker.DockerClient(base_url=tls_daemon.url, tls=tls, version="auto")
    try:
        assert client.version()["ApiVersion"] == "1.41"
    finally:
        client.close()
    for name, value in tls_daemon.env().items():
        if name.startswith("DOCKER_"):
            monkeypatch.setenv(name, value)
    client = docker.from_env()
    try:
        assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
        container = client.containers.run("busybox", ["sleep", "60"], detach=True,
                                          name=unique("tls"))
        try:
            result = container.exec_run(["sh", "-c", "echo exec-hi; exit 3"])
            assert (result.exit_code, result.output) == (3, b"exec-hi\n")
        finally:
            container.remove(force=True)
    finally:
        client.close()


def test_minke_cli_over_tls(tls_daemon: TLSDaemon) -> None:
    env = tls_daemon.env()
    assert "API version:       1.41" in _ok(_run([*MINKE, "version"], env))
    assert _ok(_run([*MINKE, "run", "--rm", "busybox", "echo", "hi"], env)) == "hi\n"
    name = unique("tls")
    _ok(_run([*MINKE, "run", "-d", "--name", name, "busybox", "sleep", "60"], env))
    try:
        assert _ok(_run([*MINKE, "exec", name, "echo", "exec-hi"], env)) == "exec-hi\n"
        # minke half-closes TCP under TLS when stdin ends; the output still comes.
        out = _ok(_run([*MINKE, "exec", "-i", name, "sh", "-c", "cat; sleep 0.5; echo after"],
                       env, stdin="from stdin\n"))
        assert out == "from stdin\nafter\n"
    finally:
        _run([*MINKE, "rm", "-f", name], env)


def test_minke_cli_global_tls_flags(tls_daemon: TLSDaemon) -> None:
    client_dir = tls_daemon.certs.client
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "MINKE_"))}
    env["HOME"] = str(client_dir.parent)  # no ~/.docker to fall back on
    out = _ok(_run([*MINKE, "-H", tls_daemon.url, "--tlsverify",
                    "--tlscacert", str(client_dir / "ca.pem"),
                    "--tlscert", str(client_dir / "cert.pem"),
                    "--tlskey", str(client_dir / "key.pem"), "ps", "-a", "-q"], env))
    assert isinstance(out, str)


@pytest.mark.parametrize("cert_dir", ["no_cert", "foreign"])
def test_client_without_a_valid_certificate_is_refused(tls_daemon: TLSDaemon,
                                                       cert_dir: str) -> None:
    directory = getattr(tls_daemon.certs, cert_dir)
    env = tls_daemon.env(directory)
    if os.path.exists(DOCKER):
        proc = _run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env)
        assert proc.returncode != 0 and "tls" in proc.stderr.lower(), proc.stderr
    proc = _run([*MINKE, "ps"], env)
    assert proc.returncode == 1
    assert f"error during connect: {tls_daemon.url}" in proc.stderr
    assert "CERTIFICATE" in proc.stderr.upper() or "UNKNOWN_CA" in proc.stderr.upper()
    # A raw client: the handshake is refused (with TLS 1.3 on the first read).
    context = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    if (directory / "cert.pem").exists():
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    with socket.create_connection(("127.0.0.1", tls_daemon.port), 10) as raw:
        with pytest.raises(ssl.SSLError):
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(100)


def test_plain_http_on_the_tls_port_gets_no_answer(tls_daemon: TLSDaemon) -> None:
    env = {**tls_daemon.env(), "DOCKER_TLS_VERIFY": ""}
    proc = _run([*MINKE, "ps"], env)
    assert proc.returncode == 1 and "Cannot connect to the minke daemon" in proc.stderr


@needs_docker_cli
def test_unix_socket_serves_beside_tcp(tls_daemon: TLSDaemon) -> None:
    proc = _run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"],
                tls_daemon.daemon.env())
    assert _ok(proc).strip() == "1.41"
