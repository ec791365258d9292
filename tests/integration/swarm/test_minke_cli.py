"""``minke swarm …`` and ``minke node …`` against a minked of their own: the flows users
run, and the same tables and texts as the docker CLI prints for the same daemon."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.conftest import Daemon, private_daemon
from tests.integration.test_cli import minke
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon("mk-swcli-") as d:
        yield d


@pytest.fixture
def node(daemon: Daemon) -> Iterator[Daemon]:
    minke(daemon, "swarm", "leave", "--force")
    yield daemon
    minke(daemon, "swarm", "leave", "--force")


def ok(daemon: Daemon, *args: str, input: bytes | None = None) -> str:
    r = minke(daemon, *args, input=input)
    assert r.returncode == 0, f"minke {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_swarm_lifecycle_with_minke(node: Daemon) -> None:
    r = minke(node, "node", "ls")
    assert r.returncode == 1 and "This node is not a swarm manager." in r.stderr
    out = ok(node, "swarm", "init", "--autolock", "--task-history-limit", "2")
    node_id = out.split("current node (")[1].split(")")[0]
    key = out.split("provide the following key:\n\n    ")[1].split()[0]
    assert ok(node, "swarm", "unlock-key", "-q").strip() == key
    swarm = json.loads(ok(node, "swarm", "inspect"))[0]
    assert swarm["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 2
    assert swarm["Spec"]["EncryptionConfig"]["AutoLockManagers"] is True
    worker = ok(node, "swarm", "join-token", "-q", "worker").strip()
    assert worker == swarm["JoinTokens"]["Worker"]
    rotated = ok(node, "swarm", "join-token", "--rotate", "worker")
    assert rotated.startswith("Successfully rotated worker join token.\n\n")
    assert worker not in rotated
    new_key = ok(node, "swarm", "unlock-key", "--rotate", "-q").strip()
    assert new_key != key and new_key.startswith("SWMKEY-1-")
    assert ok(node, "swarm", "update", "--autolock=false", "--dispatcher-heartbeat", "3s") \
        == "Swarm updated.\n"
    r = minke(node, "swarm", "unlock-key")
    assert r.returncode == 1 and r.stderr.strip() == "no unlock key is set"
    r = minke(node, "swarm", "unlock", input=b"x\n")
    assert r.returncode == 1 and r.stderr.strip() == "Error: swarm is not locked"
    assert "Heartbeat Period: 3 seconds" in ok(node, "info")
    assert ok(node, "node", "update", "--label-add", "zone=b", "--availability", "drain",
              node_id) == f"{node_id}\n"
    assert ok(node, "node", "ls", "--format", "{{.ID}} {{.Availability}} {{.Label \"zone\"}}",
              "--filter", "role=manager") == f"{node_id} Drain b\n"
    assert ok(node, "node", "update", "--label-rm", "zone", node_id) == f"{node_id}\n"
    assert json.loads(ok(node, "node", "inspect", "-f", "{{json .Spec.Labels}}", "self")) == {}
    r = minke(node, "node", "rm", node_id)
    assert r.returncode == 1 and "must be demoted to worker before removal" in r.stderr
    r = minke(node, "swarm", "leave")
    assert r.returncode == 1 and "Removing the last manager erases" in r.stderr
    assert ok(node, "swarm", "leave", "--force") == "Node left the swarm.\n"
    r = minke(node, "swarm", "leave")
    assert r.returncode == 1 and "This node is not part of a swarm" in r.stderr


@needs_docker_cli
def test_same_output_as_docker(node: Daemon) -> None:
    ok(node, "swarm", "init")
    for args in (("node", "ls"), ("node", "ls", "-q"), ("node", "inspect", "self"),
                 ("node", "inspect", "--pretty", "self"), ("swarm", "join-token", "-q",
                                                          "manager")):
        assert ok(node, *args) == docker_text(node, *args).stdout, args

    def swarm_section(text: str) -> str:
        return text[text.index(" Swarm:"):text.index("Manager Addresses:")]
    assert swarm_section(ok(node, "info")) == swarm_section(docker_text(node, "info").stdout)
