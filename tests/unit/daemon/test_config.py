"""daemon.json merged with minked's flags: file settings apply, conflicts and unknown keys
are errors naming them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minke.daemon.config import ConfigError, load, parse
from minke.daemon.main import parse_args


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_file_settings_apply(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    path = _write(tmp_path, {"hosts": ["unix:///tmp/a.sock", "tcp://0.0.0.0:2376"],
                             "tls": False, "data-root": "/srv/minke"})
    args = parse_args(["--config-file", path, "--tlscacert", str(certs / "ca.pem")])
    assert args.host == ["unix:///tmp/a.sock", "tcp://0.0.0.0:2376"]
    assert args.tls is False and args.data_root == "/srv/minke"
    assert [str(a) for a in args.listen] == ["unix:///tmp/a.sock", "tcp://0.0.0.0:2376"]
    assert args.exec_root == "/run/minke"  # the flag's default where neither says


def test_flags_without_file(tmp_path: Path) -> None:
    args = parse_args(["--config-file", _write(tmp_path, {}), "-H", "unix:///tmp/b.sock",
                       "-H", "tcp://127.0.0.1:2375", "--tls=false"])
    assert args.host == ["unix:///tmp/b.sock", "tcp://127.0.0.1:2375"]
    assert args.tls is False and args.tls_context is None


def test_conflict_between_flag_and_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, {"hosts": ["tcp://127.0.0.1:2375"], "tlsverify": True})
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--config-file")
    parser.add_argument("-H", "--host", action="append")
    parser.add_argument("--tlsverify", nargs="?", const=True, default=None)
    with pytest.raises(ConfigError) as info:
        parse(parser, ["--config-file", path, "-H", "unix:///x.sock", "--tlsverify"])
    message = str(info.value)
    assert path in message
    assert "specified both as a flag and in the configuration file" in message
    assert "hosts: (from flag: [unix:///x.sock], from file: [tcp://127.0.0.1:2375])" in message
    assert "tlsverify: (from flag: true, from file: true)" in message


def test_unknown_keys_and_wrong_types_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(Path(_write(tmp_path, {"hosts": [], "nosuch": 1})), required=True)
    assert "don't match any configuration option: nosuch" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load(Path(_write(tmp_path, {"tlsverify": "yes"})), required=True)
    assert 'tlsverify must be a boolean, not "yes"' in str(info.value)
    with pytest.raises(ConfigError) as info:
        load(Path(_write(tmp_path, {"hosts": "tcp://x"})), required=True)
    assert "hosts must be a list of strings" in str(info.value)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "tls": true,\n}')
    with pytest.raises(ConfigError) as info:
        load(bad, required=True)
    assert str(bad) in str(info.value) and "line 3" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    assert load(tmp_path / "none.json", required=False) == {}
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "none.json", required=True)
    assert str(tmp_path / "none.json") in str(info.value)


def _minked(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minke.daemon.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_minked_refuses_plain_tcp_on_a_public_address(tmp_path: Path) -> None:
    proc = _minked("--config-file", _write(tmp_path, {}), "-H", "tcp://0.0.0.0:2375")
    assert proc.returncode == 1
    assert "refusing to listen on tcp://0.0.0.0:2375 without TLS" in proc.stderr


def test_minked_names_a_missing_certificate(tmp_path: Path) -> None:
    proc = _minked("--config-file", _write(tmp_path, {}), "-H", "tcp://127.0.0.1:2376",
                   "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"),
                   "--tlscert", str(tmp_path / "cert.pem"), "--tlskey", str(tmp_path / "k"))
    assert proc.returncode == 1
    assert f"{tmp_path}/cert.pem (--tlscert): No such file or directory" in proc.stderr


def test_minked_names_a_conflict_with_daemon_json(tmp_path: Path) -> None:
    path = _write(tmp_path, {"hosts": ["unix:///tmp/c.sock"]})
    proc = _minked("--config-file", path, "-H", "unix:///tmp/d.sock")
    assert proc.returncode == 1
    assert f"unable to configure the minke daemon with file {path}" in proc.stderr
    assert "hosts: (from flag: [unix:///tmp/d.sock], from file: [unix:///tmp/c.sock])" \
        in proc.stderr
