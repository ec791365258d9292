"""TLS options as the docker CLI reads them, and ``ssl`` kept off the unix-socket path."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from minke.cli.context import Context
from minke.cli.main import _tls_flag
from minke.client.tls import tls_options
from minke.client.transport import ConnectionFailed, open_socket, resolve_host


def test_no_tls_without_flags_or_environment() -> None:
    assert tls_options({}) is None
    assert resolve_host("tcp://10.0.0.1", {}).tls is None
    assert resolve_host("tcp://10.0.0.1", {}).port == 2375


def test_docker_tls_verify_and_cert_path(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    env = {"DOCKER_HOST": "tcp://10.0.0.1", "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": str(tmp_path)}
    host = resolve_host(None, env)
    assert host.port == 2376  # the TLS port when none is given
    assert host.tls is not None and host.tls.verify
    assert host.tls.cacert == str(tmp_path / "ca.pem")
    assert (host.tls.cert, host.tls.key) == (str(tmp_path / "cert.pem"),
                                             str(tmp_path / "key.pem"))


def test_flags_and_defaults(tmp_path: Path) -> None:
    env = {"DOCKER_CERT_PATH": str(tmp_path)}
    options = tls_options(env, tls=True)
    assert options is not None and not options.verify
    assert options.cert == "" and options.key == ""  # missing defaults are not sent
    options = tls_options(env, tlsverify=False)
    assert options is not None and not options.verify  # --tlsverify=false still means TLS
    options = tls_options({**env, "DOCKER_TLS_VERIFY": "1"}, cacert="/x/ca.pem")
    assert options is not None and options.verify and options.cacert == "/x/ca.pem"
    assert tls_options({"DOCKER_TLS": "1"}) is not None
    assert resolve_host("https://10.0.0.1", env).tls is not None
    # TLS settings do not apply to a unix socket.
    assert resolve_host("unix:///x.sock", {**env, "DOCKER_TLS_VERIFY": "1"}).tls is None


def test_unreadable_ca_is_named(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # connects; never answers
        port = listener.getsockname()[1]
        host = resolve_host(f"tcp://127.0.0.1:{port}", {
            "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})
        with pytest.raises(ConnectionFailed) as info:
            open_socket(host)
    assert str(info.value) == (f'could not read CA certificate "{tmp_path}/ca.pem": '
                               "No such file or directory")


def test_cli_global_tls_flags() -> None:
    ctx = Context()
    args = ["--tlsverify", "--tlscacert", "/c/ca.pem", "--tlscert=/c/cert.pem",
            "--tls=false", "--tlskey", "/c/key.pem"]
    i = 0
    while i < len(args):
        i = _tls_flag(ctx, args, i)
    assert ctx.tls == {"tlsverify": True, "cacert": "/c/ca.pem", "cert": "/c/cert.pem",
                       "tls": False, "key": "/c/key.pem"}


def test_ssl_is_not_imported_for_a_unix_socket() -> None:
    code = ("import sys\nfrom minke.cli.main import main\n"
            "main(['--host', 'unix:///nonexistent.sock', 'ps'])\n"
            "print('ssl' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
