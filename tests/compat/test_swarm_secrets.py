"""Secrets and configs through the real docker CLI and docker-py: ``secret``/``config``
create (file and stdin), ls, inspect, rm, Docker's errors, events, Docker's shapes, and an
autolocked swarm's secrets surviving a SIGKILL of minked, readable only after unlock and
never on disk in the clear."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.compat.test_swarm import NOT_A_MANAGER, check_shape, restart
from tests.conftest import Daemon, private_daemon
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]

PLAIN = "s3cr3t-4b1d9e-value"


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon("mk-secrets-") as d:
        yield d


@pytest.fixture
def node(daemon: Daemon) -> Iterator[Daemon]:
    """The module's daemon, out of any swarm before and after the test."""
    leave(daemon)
    yield daemon
    leave(daemon)


def leave(daemon: Daemon) -> None:
    api = docker.APIClient(base_url=daemon.host, version="1.41", timeout=30)
    api.leave_swarm(force=True)  # also when not in a swarm, as dockerd answers
    api.close()


@pytest.fixture
def client(node: Daemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=node.host, version="1.41", timeout=30)
    yield c
    c.close()


def test_outside_a_swarm_secrets_and_configs_are_503(client: docker.DockerClient) -> None:
    for call in (lambda: client.secrets.create(name="x", data="y"), client.secrets.list,
                 lambda: client.configs.get("x")):
        with pytest.raises(docker.errors.APIError) as refused:
            call()
        assert refused.value.status_code == 503
        assert refused.value.explanation == NOT_A_MANAGER


@needs_docker_cli
def test_docker_cli_secret_and_config_verbs(node: Daemon, tmp_path: Path) -> None:
    docker_text(node, "swarm", "init")
    since = str(time.time())
    source = tmp_path / "pw.txt"
    source.write_text(PLAIN)
    sid = docker_text(node, "secret", "create", "--label", "env=prod", "db_pw",
                      str(source)).stdout.strip()
    assert len(sid) == 25
    from_stdin = docker_text(node, "secret", "create", "api.key", "-",
                             input="k3y").stdout.strip()
    rows = docker_text(node, "secret", "ls").stdout.splitlines()
    assert rows[0].split() == ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]
    assert [r.split()[:2] for r in rows[1:]] == [[from_stdin, "api.key"], [sid, "db_pw"]]
    assert docker_text(node, "secret", "ls", "-q", "--filter", "label=env=prod").stdout \
        .split() == [sid]
    [inspected] = json.loads(docker_text(node, "secret", "inspect", "db_pw").stdout)
    assert inspected["ID"] == sid
    assert inspected["Spec"] == {"Name": "db_pw", "Labels": {"env": "prod"}}
    assert PLAIN not in docker_text(node, "secret", "inspect", sid).stdout
    pretty = docker_text(node, "secret", "inspect", "--pretty", "db_pw").stdout
    assert f"ID:              {sid}" in pretty and "Name:              db_pw" in pretty

    dup = docker_text(node, "secret", "create", "db_pw", str(source), check=False)
    assert dup.returncode != 0
    assert "rpc error: code = AlreadyExists desc = secret db_pw already exists" in dup.stderr
    bad = docker_text(node, "secret", "create", "bad_", str(source), check=False)
    assert bad.returncode != 0 and "invalid name, only 64 [a-zA-Z0-9-_.] characters" \
        in bad.stderr
    missing = docker_text(node, "secret", "rm", "nope", check=False)
    assert missing.returncode != 0 and "secret nope not found" in missing.stderr

    cid = docker_text(node, "config", "create", "nginx.conf", str(source)).stdout.strip()
    [config] = json.loads(docker_text(node, "config", "inspect", "nginx.conf").stdout)
    assert config["ID"] == cid
    assert base64.b64decode(config["Spec"]["Data"]).decode() == PLAIN  # configs show it
    assert docker_text(node, "config", "ls", "--format", "{{.ID}} {{.Name}}").stdout == \
        f"{cid} nginx.conf\n"

    assert docker_text(node, "secret", "rm", "db_pw", from_stdin).stdout.split() == \
        ["db_pw", from_stdin]
    assert docker_text(node, "config", "rm", cid).stdout.strip() == cid
    assert docker_text(node, "secret", "ls", "-q").stdout == ""
    events = docker_text(node, "events", "--since", since, "--until", str(time.time() + 1),
                         "--filter", "type=secret", "--filter", "type=config",
                         "--format", "{{json .}}").stdout
    seen = [(e["Type"], e["Action"], e["Actor"]["Attributes"]["name"], e["scope"])
            for e in map(json.loads, events.splitlines())]
    assert seen == [("secret", "create", "db_pw", "swarm"),
                    ("secret", "create", "api.key", "swarm"),
                    ("config", "create", "nginx.conf", "swarm"),
                    ("secret", "remove", "db_pw", "swarm"),
                    ("secret", "remove", "api.key", "swarm"),
                    ("config", "remove", "nginx.conf", "swarm")]


def test_docker_py_secrets_and_configs(client: docker.DockerClient) -> None:
    client.swarm.init()
    secret = client.secrets.create(name="token", data=PLAIN, labels={"a": "b"})
    got = client.secrets.get(secret.id)
    check_shape(got.attrs, "Secret")
    assert got.name == "token" and "Data" not in got.attrs["Spec"]
    assert [s.id for s in client.secrets.list(filters={"name": "tok"})] == [secret.id]
    assert client.secrets.list(filters={"label": "a=c"}) == []
    with pytest.raises(docker.errors.APIError) as dup:
        client.secrets.create(name="token", data="other")
    assert dup.value.status_code == 409
    with pytest.raises(docker.errors.APIError) as big:
        client.secrets.create(name="big", data=b"x" * 512000)
    assert big.value.status_code == 400 and "less than 512000 bytes" in big.value.explanation
    bad = client.api._post_json(client.api._url("/secrets/create"),
                                data={"Name": "b64", "Data": "%%%"})
    assert bad.status_code == 400 and "illegal base64 data" in bad.json()["message"]
    version = got.attrs["Version"]["Index"]
    update = client.api._post_json(client.api._url(f"/secrets/{secret.id}/update"),
                                   params={"version": version},
                                   data={"Name": "token", "Labels": {"a": "c"}})
    assert update.status_code == 200
    changed = client.api._post_json(
        client.api._url(f"/secrets/{secret.id}/update"), params={"version": version + 1},
        data={"Name": "token", "Data": base64.b64encode(b"new").decode()})
    assert changed.status_code == 400
    assert changed.json()["message"] == ("rpc error: code = InvalidArgument desc = only "
                                         "updates to Labels are allowed")
    assert client.secrets.get("token").attrs["Spec"]["Labels"] == {"a": "c"}

    config = client.configs.create(name="app.yml", data="port: 80\n")
    check_shape(client.configs.get(config.id).attrs, "Config")
    assert base64.b64decode(client.configs.get("app.yml").attrs["Spec"]["Data"]) == \
        b"port: 80\n"
    assert [c.name for c in client.configs.list()] == ["app.yml"]
    assert client.configs.get(config.id).remove() is True
    assert secret.remove() is True
    assert client.secrets.list() == [] and client.configs.list() == []
    with pytest.raises(docker.errors.NotFound):
        client.secrets.get("token")


@needs_docker_cli
def test_autolocked_secrets_survive_restart_and_never_touch_disk(node: Daemon) -> None:
    out = docker_text(node, "swarm", "init", "--autolock").stdout
    key = out.split("provide the following key:\n\n    ")[1].split()[0]
    sid = docker_text(node, "secret", "create", "vault", "-", input=PLAIN).stdout.strip()
    docker_text(node, "config", "create", "conf", "-", input=PLAIN[::-1])
    restart(node, kill=True)
    locked = docker_text(node, "secret", "ls", check=False)
    assert locked.returncode != 0 and "Swarm is encrypted and needs to be unlocked" \
        in locked.stderr
    on_disk = b"".join(p.read_bytes() for p in node.data_root.rglob("*")
                       if p.is_file() and not p.is_symlink())
    for plain in (PLAIN, PLAIN[::-1]):
        for form in (plain.encode(), base64.b64encode(plain.encode())):
            assert form not in on_disk
    docker_text(node, "swarm", "unlock", input=key + "\n")
    assert docker_text(node, "secret", "ls", "-q").stdout.split() == [sid]
    [config] = json.loads(docker_text(node, "config", "inspect", "conf").stdout)
    assert base64.b64decode(config["Spec"]["Data"]).decode() == PLAIN[::-1]


@needs_docker_cli
def test_rm_refused_while_a_service_uses_it(node: Daemon) -> None:
    docker_text(node, "swarm", "init")
    docker_text(node, "secret", "create", "db", "-", input="pw")
    docker_text(node, "config", "create", "app", "-", input="port: 80")
    docker_text(node, "service", "create", "-d", "--name", "web", "--secret", "db",
                "--config", "src=app,target=/etc/app.yml", "busybox:latest", "sleep", "1000")
    try:
        for kind, name in (("secret", "db"), ("config", "app")):
            refused = docker_text(node, kind, "rm", name, check=False)
            assert refused.returncode != 0
            assert refused.stderr.strip() == (
                f"Error response from daemon: rpc error: code = InvalidArgument desc = "
                f"{kind} '{name}' is in use by the following service: web")
        assert docker_text(node, "secret", "ls", "--format", "{{.Name}}").stdout == "db\n"
    finally:
        docker_text(node, "service", "rm", "web")
    docker_text(node, "secret", "rm", "db")
    docker_text(node, "config", "rm", "app")
