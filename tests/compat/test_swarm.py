"""Swarm mode with one manager through the real docker CLI and docker-py: a node outside a
swarm answers as dockerd, ``swarm init``/``info``/``join-token``/``update``/``leave``,
``node ls/inspect/update/rm``, cluster events, and the swarm surviving a SIGKILL of minked,
locked after it with ``--autolock`` until ``swarm unlock``."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import docker
import jsonschema
import pytest
from ruamel.yaml import YAML
from tests.conftest import SHARED, Daemon, private_daemon, start_daemon
from tests.support.cli import DOCKER, docker_text, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again.')
SWAGGER = SHARED / "reference" / "docker-api" / "v1.41.yaml"
# Fields dockerd itself sends as null although the swagger does not mark them nullable.
NULL_AS_DOCKER = {"DefaultAddrPool"}
LOCKED = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use '
          '"docker swarm unlock" to unlock it.')


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon("mk-swarm-") as d:
        yield d


@pytest.fixture
def node(daemon: Daemon) -> Iterator[Daemon]:
    """The module's daemon, out of any swarm before and after the test."""
    api = docker.APIClient(base_url=daemon.host, version="1.41", timeout=30)
    api.leave_swarm(force=True)  # True also when not in a swarm, as dockerd answers
    api.close()
    yield daemon
    if daemon.process.poll() is None:
        api = docker.APIClient(base_url=daemon.host, version="1.41", timeout=30)
        api.leave_swarm(force=True)
        api.close()


@pytest.fixture
def client(node: Daemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=node.host, version="1.41", timeout=30)
    yield c
    c.close()


def strict(schema: object) -> object:
    """A swagger 2.0 schema as JSON Schema, strict: ``x-nullable`` (and the fields dockerd
    sends null) accept null, and objects with properties accept no other key, so that a
    stray or missing-shape field fails."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if "properties" in out and "allOf" not in out:
        out.setdefault("additionalProperties", False)
        for name, prop in out["properties"].items():
            if isinstance(prop, dict) and (prop.get("x-nullable") or name in NULL_AS_DOCKER) \
                    and "type" in prop:
                prop["type"] = [prop["type"], "null"]
    return out


def check_shape(doc: object, definition: str) -> None:
    """``doc`` is Docker's ``definition`` in the v1.41 swagger, and has nothing more."""
    definitions = strict(YAML(typ="safe").load(SWAGGER.read_text())["definitions"])
    if definition == "Swarm":  # allOf of ClusterInfo and JoinTokens: one closed object
        swarm = definitions["ClusterInfo"]  # type: ignore[index]
        swarm["properties"]["JoinTokens"] = {"$ref": "#/definitions/JoinTokens"}
        definitions["Swarm"] = swarm  # type: ignore[index]
    jsonschema.validate(doc, {"$ref": f"#/definitions/{definition}",
                              "definitions": definitions})


def restart(daemon: Daemon, *, kill: bool) -> None:
    """Stop minked (SIGKILL or SIGTERM) and start it again on the same roots."""
    os.kill(daemon.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    daemon.process.wait(30)
    daemon.process = start_daemon(daemon.root).process


def test_outside_a_swarm_answers_as_dockerd(client: docker.DockerClient) -> None:
    api = client.api
    for path in ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs",
                 "/swarm/unlockkey"):
        response = api._get(api._url(path))
        assert (response.status_code, response.json()["message"]) == (503, NOT_A_MANAGER)
    response = api._post(api._url("/swarm/leave"))
    assert (response.status_code, response.json()["message"]) == \
        (503, "This node is not part of a swarm")
    assert client.swarm.leave(force=True) is True  # docker-py's teardowns rely on this
    swarm = client.info()["Swarm"]
    assert (swarm["LocalNodeState"], swarm["NodeID"], swarm["ControlAvailable"]) == \
        ("inactive", "", False)
    assert api._get(api._url("/_ping")).headers["Swarm"] == "inactive"


@needs_docker_cli
def test_docker_cli_swarm_and_nodes(node: Daemon) -> None:
    out = docker_text(node, "swarm", "init", "--task-history-limit", "3").stdout
    node_id = out.split("current node (")[1].split(")")[0]
    assert "is now a manager" in out and "docker swarm join --token SWMTKN-1-" in out
    info = docker_text(node, "info").stdout
    assert " Swarm: active" in info and f"NodeID: {node_id}" in info
    assert "Is Manager: true" in info and "Task History Retention Limit: 3" in info
    token = docker_text(node, "swarm", "join-token", "-q", "worker").stdout.strip()
    assert token.startswith("SWMTKN-1-")
    shown = docker_text(node, "swarm", "join-token", "worker").stdout
    assert f"docker swarm join --token {token} " in shown
    rotated = docker_text(node, "swarm", "join-token", "--rotate", "-q", "worker").stdout
    assert rotated.strip() != token
    rows = docker_text(node, "node", "ls").stdout.splitlines()
    assert rows[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER",
                               "STATUS", "ENGINE", "VERSION"]
    assert rows[1].split()[:2] == [node_id, "*"]
    assert rows[1].split()[3:6] == ["Ready", "Active", "Leader"]
    inspected = json.loads(docker_text(node, "node", "inspect", "self").stdout)[0]
    assert inspected["ID"] == node_id
    hostname = inspected["Description"]["Hostname"]
    docker_text(node, "node", "update", "--availability", "drain", "--label-add", "zone=a",
                hostname)
    spec = json.loads(docker_text(node, "node", "inspect", "-f", "{{json .Spec}}",
                                  node_id).stdout)
    assert spec == {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "drain"}
    assert docker_text(node, "node", "ls", "-q", "--filter", "node.label=zone=a").stdout \
        .split() == [node_id]
    demote = docker_text(node, "node", "demote", node_id, check=False)
    assert demote.returncode != 0 and "demote the last manager of the swarm" in demote.stderr
    rm = docker_text(node, "node", "rm", node_id, check=False)
    assert rm.returncode != 0 and "must be demoted to worker before removal" in rm.stderr
    again = docker_text(node, "swarm", "init", check=False)
    assert again.returncode != 0 and "This node is already part of a swarm" in again.stderr
    leave = docker_text(node, "swarm", "leave", check=False)
    assert leave.returncode != 0 and "Removing the last manager erases" in leave.stderr
    assert docker_text(node, "swarm", "leave", "--force").stdout == "Node left the swarm.\n"
    assert " Swarm: inactive" in docker_text(node, "info").stdout


@needs_docker_cli
def test_docker_events_show_node_updates(node: Daemon) -> None:
    docker_text(node, "swarm", "init")
    since = str(time.time())
    node_id = json.loads(docker_text(node, "info", "-f", "{{json .Swarm}}").stdout)["NodeID"]
    docker_text(node, "node", "update", "--availability", "pause", node_id)
    events = docker_text(node, "events", "--since", since, "--until", str(time.time() + 1),
                         "--filter", "type=node", "--format", "{{json .}}").stdout
    [event] = [json.loads(line) for line in events.splitlines()]
    assert (event["Type"], event["Action"], event["scope"]) == ("node", "update", "swarm")
    assert event["Actor"]["Attributes"]["availability.old"] == "active"
    assert event["Actor"]["Attributes"]["availability.new"] == "pause"


def test_docker_py_swarm_api(client: docker.DockerClient) -> None:
    node_id = client.swarm.init(task_history_retention_limit=4)
    assert client.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 4
    check_shape(client.swarm.attrs, "Swarm")
    check_shape(client.info()["Swarm"], "SwarmInfo")
    check_shape(client.nodes.list()[0].attrs, "Node")
    # a joining node pins the root CA by the digest in the token
    digest = client.swarm.attrs["JoinTokens"]["Worker"].split("-")[2]
    trust_root = client.swarm.attrs["TLSInfo"]["TrustRoot"].encode()
    assert int(digest, 36) == int(hashlib.sha256(trust_root).hexdigest(), 16)
    assert client.swarm.attrs["JoinTokens"]["Manager"].startswith("SWMTKN-1-")
    [me] = client.nodes.list()
    assert me.id == node_id and me.attrs["Spec"]["Role"] == "manager"
    assert client.nodes.list(filters={"role": "worker"}) == []
    assert me.update({"Availability": "active", "Role": "manager", "Labels": {"a": "b"}})
    me.reload()
    assert me.attrs["Spec"]["Labels"] == {"a": "b"}
    before = client.swarm.attrs["JoinTokens"]
    client.swarm.update(rotate_manager_token=True)
    client.swarm.reload()
    assert client.swarm.attrs["JoinTokens"]["Manager"] != before["Manager"]
    assert client.swarm.attrs["JoinTokens"]["Worker"] == before["Worker"]
    assert client.api.get_unlock_key() == {"UnlockKey": ""}
    with pytest.raises(docker.errors.APIError) as stale:
        client.api.update_swarm(version=1, swarm_spec=client.swarm.attrs["Spec"])
    assert stale.value.status_code == 500 and "update out of sequence" in str(stale.value)
    with pytest.raises(docker.errors.APIError) as twice:
        client.swarm.init()
    assert twice.value.status_code == 503
    assert client.swarm.leave(force=True) is True
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"


def test_swarm_survives_sigkill(node: Daemon) -> None:
    client = docker.DockerClient(base_url=node.host, version="1.41", timeout=30)
    node_id = client.swarm.init()
    swarm = client.swarm.attrs
    client.close()
    restart(node, kill=True)
    client = docker.DockerClient(base_url=node.host, version="1.41", timeout=30)
    client.swarm.reload()
    assert client.swarm.attrs["ID"] == swarm["ID"]
    assert client.swarm.attrs["JoinTokens"] == swarm["JoinTokens"]
    assert client.swarm.attrs["TLSInfo"] == swarm["TLSInfo"]
    [me] = client.nodes.list()
    assert me.id == node_id and me.attrs["Status"]["State"] == "ready"
    assert client.info()["Swarm"]["NodeID"] == node_id
    client.close()


@needs_docker_cli
def test_autolocked_swarm_locked_after_restart(node: Daemon) -> None:
    out = docker_text(node, "swarm", "init", "--autolock").stdout
    key = out.split("provide the following key:\n\n    ")[1].split()[0]
    assert key.startswith("SWMKEY-1-")
    assert docker_text(node, "swarm", "unlock-key", "-q").stdout.strip() == key
    node_id = json.loads(docker_text(node, "info", "-f", "{{json .Swarm}}").stdout)["NodeID"]
    restart(node, kill=True)
    assert " Swarm: locked" in docker_text(node, "info").stdout
    ls = docker_text(node, "node", "ls", check=False)
    assert ls.returncode != 0 and LOCKED in ls.stderr
    wrong = subprocess.run([DOCKER, "swarm", "unlock"], env=node.env(), text=True,
                           input="SWMKEY-1-" + "A" * 43 + "\n", capture_output=True,
                           timeout=30)
    assert wrong.returncode != 0 and "invalid key provided" in wrong.stderr
    docker_text(node, "swarm", "unlock", input=key + "\n")
    rows = docker_text(node, "node", "ls", "-q").stdout.split()
    assert rows == [node_id]
    restart(node, kill=False)  # a clean stop locks it as well
    assert json.loads(docker_text(node, "info", "-f", "{{json .Swarm}}").stdout)[
        "LocalNodeState"] == "locked"
    assert docker_text(node, "swarm", "leave", "--force").stdout == "Node left the swarm.\n"
