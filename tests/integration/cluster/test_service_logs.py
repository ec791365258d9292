"""``docker service logs`` on the manager of a three-node swarm shows the tasks of every
node (the leader's log broker asks the workers' agents through their sessions): all of
them, ``--tail``, and ``--follow`` getting new lines of tasks on other nodes."""

from __future__ import annotations

import queue
import subprocess
import threading

import pytest
from tests.integration.cluster.test_membership import (  # noqa: F401 (fixture)
    cli,
    node_id,
    out,
    running_tasks,
    swarm,
)
from tests.support.cluster import Cluster
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

# each task says which slot and node it is, then a numbered line every second
SCRIPT = 'i=0; while true; do echo "line $SLOT $NODE $i"; i=$((i+1)); sleep 1; done'


def lines(text: str) -> list[tuple[str, str, int]]:
    """(slot, node ID, number) of the service's lines in ``text``."""
    got = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 4 and words[0] == "line":
            got.append((words[1], words[2], int(words[3])))
    return got


def test_service_logs_show_tasks_of_every_node(swarm: Cluster) -> None:  # noqa: F811
    name = "logsvc"
    nodes = {node_id(swarm, i) for i in range(3)}
    cli(swarm, 0, "service", "create", "-d", "--no-resolve-image", "--stop-grace-period",
        "1s", "--name", name, "--replicas", "3", "--replicas-max-per-node", "1",
        "--env", "SLOT={{.Task.Slot}}", "--env", "NODE={{.Node.ID}}",
        "busybox", "sh", "-c", SCRIPT)
    follow: subprocess.Popen[str] | None = None
    try:
        wait_for("a task running on each node", lambda: set(running_tasks(swarm, name))
                 == nodes, deadline=30)
        # every node's tasks, through the manager
        def all_nodes() -> list[tuple[str, str, int]] | None:
            got = lines(out(swarm, 0, "service", "logs", "--raw", name))
            return got if {n for _, n, _ in got} == nodes else None
        got = wait_for("lines of all three nodes", all_nodes, deadline=15)
        assert {s for s, _, _ in got} == {"1", "2", "3"}
        # --tail 1: the last line of each task
        tail = lines(out(swarm, 0, "service", "logs", "--raw", "--tail", "1", name))
        assert sorted(s for s, _, _ in tail) == ["1", "2", "3"], tail
        # as the CLI shows them from the details: <time> name.slot.task@node | line
        shown = out(swarm, 0, "service", "logs", "--timestamps", "--tail", "1", name)
        shown_lines = [line.split(" ", 1) for line in shown.splitlines()]
        assert sorted(ctx.split(".")[1] for _, ctx in shown_lines) == ["1", "2", "3"], shown
        for when, ctx in shown_lines:  # the RFC 3339 time first
            assert when[:4].isdigit() and when.endswith("Z"), shown
            assert ctx.startswith(f"{name}.") and "@" in ctx.split(" | ")[0], shown
        # --follow: new lines of the tasks on the other nodes
        remote = nodes - {node_id(swarm, 0)}
        follow = subprocess.Popen(["docker", "-H", swarm.node(0).host, "service", "logs",
                                   "--follow", "--raw", "--tail", "0", name],
                                  stdout=subprocess.PIPE, text=True)
        seen: queue.Queue[str] = queue.Queue()
        stdout = follow.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [seen.put(line) for line in stdout],
                         daemon=True).start()
        followed: set[str] = set()
        while not remote <= followed:
            for _, node, _ in lines(seen.get(timeout=15)):
                followed.add(node)
    finally:
        if follow is not None:
            follow.kill()
            follow.wait()
        cli(swarm, 0, "service", "rm", name, check=False)
