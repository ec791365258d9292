"""``minke secret …`` and ``minke config …`` against a minked of their own: create from a
file and stdin, ls, inspect (also ``--pretty``), rm, with the same texts as the docker CLI
prints for the same daemon."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Daemon, private_daemon
from tests.integration.test_cli import minke
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = pytest.mark.integration

# The CREATED/UPDATED columns say how long ago, read by each CLI at its own moment.
AGO = re.compile(r"(Less than a second|About an? \w+|\d+ \w+) ago")


@pytest.fixture(scope="module")
def node() -> Iterator[Daemon]:
    with private_daemon("mk-seccli-") as d:
        minke(d, "swarm", "init")
        yield d
        minke(d, "swarm", "leave", "--force")


def ok(daemon: Daemon, *args: str, input: bytes | None = None) -> str:
    r = minke(daemon, *args, input=input)
    assert r.returncode == 0, f"minke {' '.join(args)}: {r.stderr}"
    return r.stdout


def same_text(node: Daemon, *args: str) -> bool:
    """minke prints what docker prints. Two things in docker's text are not fixed: the
    moments the two CLIs read the clock may fall on two sides of a second (a difference
    in the age columns alone is asked again), and ``{{.Labels}}`` joins the labels in Go's
    map order, which changes from one run to the next (compared as sets)."""
    for _ in range(5):
        mine, theirs = ok(node, *args), docker_text(node, *args).stdout
        if _labels_as_sets(mine) == _labels_as_sets(theirs):
            return True
        if AGO.sub("", mine).split() != AGO.sub("", theirs).split():
            return False
    return False


def _labels_as_sets(text: str) -> list[list[object]]:
    """Each line's words, a ``k=v,k2=v2`` word as the set of its labels."""
    return [[frozenset(w.split(",")) if "=" in w else w for w in line.split(" ")]
            for line in text.splitlines()]


@needs_docker_cli
@pytest.mark.parametrize("kind", ["secret", "config"])
def test_verbs_print_what_docker_prints(node: Daemon, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "data"
    source.write_text("line one\nline two\n")
    first = ok(node, kind, "create", "--label", "env=prod", "--label", "flag", f"{kind}-b",
               str(source)).strip()
    second = ok(node, kind, "create", f"{kind}-a", "-", input=b"from stdin").strip()
    assert len(first) == len(second) == 25
    for args in (["ls"], ["ls", "-q"], ["ls", "--filter", "label=env=prod"],
                 ["ls", "--format", "{{.Name}} {{.Labels}}"],
                 ["inspect", f"{kind}-b", second], ["inspect", "--pretty", f"{kind}-b"],
                 ["inspect", "-f", "{{.Spec.Name}}", first]):
        assert same_text(node, kind, *args), args
    [doc] = json.loads(ok(node, kind, "inspect", first))
    assert ("Data" in doc["Spec"]) == (kind == "config")
    dup = minke(node, kind, "create", f"{kind}-a", str(source))
    assert dup.returncode == 1
    assert dup.stderr.strip() == (f"Error response from daemon: rpc error: code = "
                                  f"AlreadyExists desc = {kind} {kind}-a already exists")
    gone = minke(node, kind, "rm", f"{kind}-a", "nope", first)
    assert gone.returncode == 1 and gone.stdout.split() == [f"{kind}-a", first]
    assert f"{kind} nope not found" in gone.stderr
    assert ok(node, kind, "ls", "-q") == ""
