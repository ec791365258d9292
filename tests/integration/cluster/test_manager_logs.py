"""``docker service logs`` with several managers on etcd (three managers and a worker, the
fixture of ``test_managers.py``): on any manager, leader or not, it shows the lines of the
tasks on every node (the leader, the other managers, the worker), and ``--follow`` picks
up tasks that start on other nodes after it began."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from tests.conftest import unique
from tests.integration.cluster.test_managers import (  # noqa: F401 (fixture)
    MANAGERS,
    WORKERS,
    Swarm,
    swarm,
)
from tests.integration.cluster.test_service_logs import lines  # "line A B n" → (A, B, n)
from tests.support.cluster import docker_on as cli
from tests.support.cluster import docker_out as out
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

NODES = MANAGERS + WORKERS
FOLLOW_DEADLINE = 45.0  # seconds for a follower to see what it waits for
# each task says which node and task it is, then a numbered line every half second
SCRIPT = ('i=0; while true; do echo "line $NODE $TASK $i"; i=$((i+1)); sleep 0.5; done')


def create(swarm: Swarm, name: str, replicas: int) -> None:  # noqa: F811
    cli(swarm.cluster, 0, "service", "create", "-d", "--no-resolve-image",
        "--stop-grace-period", "1s", "--name", name, "--replicas", str(replicas),
        "--replicas-max-per-node", "1", "--env", "NODE={{.Node.ID}}",
        "--env", "TASK={{.Task.ID}}", "busybox", "sh", "-c", SCRIPT)


def running(swarm: Swarm, name: str) -> dict[str, str]:  # noqa: F811
    """Task ID → node ID of the running tasks of ``name``."""
    return {str(t["ID"]): str(t["NodeID"]) for t in swarm.tasks(name)
            if t["Status"]["State"] == "running"}  # type: ignore[index]


class Follower:
    """``docker service logs --follow --raw`` on node ``i``, its lines read as they come."""

    def __init__(self, swarm: Swarm, i: int, name: str, *args: str) -> None:  # noqa: F811
        self.proc = subprocess.Popen(
            ["docker", "-H", swarm.cluster.node(i).host, "service", "logs", "--follow",
             "--raw", *args, name], stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout],
                         daemon=True).start()

    def until(self, what: str, done: set[str], key: int) -> None:
        """Read lines until the ``key``-th field (0 node, 1 task) of those seen covers
        ``done``; AssertionError naming what is missing if it does not within
        ``FOLLOW_DEADLINE`` (the lines of the other tasks keep coming meanwhile)."""
        seen: set[str] = set()
        end = time.monotonic() + FOLLOW_DEADLINE
        while not done <= seen:
            try:
                line = self.lines.get(timeout=max(end - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"{what}: still missing {done - seen}") from None
            seen |= {entry[key] for entry in lines(line)}

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def spread(swarm: Swarm) -> Iterator[tuple[str, dict[str, str]]]:  # noqa: F811
    """A service with one task on each of the four nodes: its name and task → node."""
    name = unique("mlogs")
    create(swarm, name, NODES)
    try:
        tasks = wait_for("a task running on each node", lambda: (
            r if set((r := running(swarm, name)).values()) == set(swarm.ids) else None),
            deadline=90)
        yield name, tasks
    finally:
        cli(swarm.cluster, 0, "service", "rm", name, check=False)


def test_logs_on_every_manager_show_every_node(swarm: Swarm,  # noqa: F811
                                               spread: tuple[str, dict[str, str]]) -> None:
    name, tasks = spread
    leader = swarm.wait_leader(0)
    for i in [leader, *(m for m in range(MANAGERS) if m != leader)]:
        def every_task(i: int = i) -> list[tuple[str, str, int]] | None:
            got = lines(out(swarm.cluster, i, "service", "logs", "--raw", name))
            return got if {(n, t) for n, t, _ in got} >= set(
                (n, t) for t, n in tasks.items()) else None
        got = wait_for(f"manager {i} to show the lines of the tasks of all four nodes",
                       every_task, deadline=20)
        for node, task, _ in got:  # each line is the one its task's container wrote
            assert tasks.get(task, node) == node, got
        # --tail 1: the last line of each task, wherever it runs
        tail = lines(out(swarm.cluster, i, "service", "logs", "--raw", "--tail", "1", name))
        assert sorted(t for _, t, _ in tail) == sorted(tasks), (i, tail)


def test_follow_through_a_manager_that_does_not_lead(
        swarm: Swarm, spread: tuple[str, dict[str, str]]) -> None:  # noqa: F811
    name, tasks = spread
    leader = swarm.wait_leader(0)
    other = next(m for m in range(MANAGERS) if m != leader)
    follower = Follower(swarm, other, name, "--tail", "0")
    try:  # new lines of the tasks on the leader, the third manager and the worker
        follower.until("new lines of every other node's task",
                       set(swarm.ids) - {swarm.ids[other]}, key=0)
    finally:
        follower.close()


def test_follow_picks_up_tasks_started_on_other_nodes(swarm: Swarm) -> None:  # noqa: F811
    name = unique("mlate")
    create(swarm, name, 0)
    leader = swarm.wait_leader(0)
    followers = []
    try:
        # one follower on a manager that does not lead, one on the leader, started while
        # the service has no task at all
        followers = [Follower(swarm, i, name) for i in
                     (next(m for m in range(MANAGERS) if m != leader), leader)]
        cli(swarm.cluster, 0, "service", "scale", "-d", f"{name}={NODES}")
        tasks = wait_for("a task running on each node", lambda: (
            r if set((r := running(swarm, name)).values()) == set(swarm.ids) else None),
            deadline=90)
        for follower in followers:
            follower.until("lines of the tasks started after --follow began", set(tasks),
                           key=1)
    finally:
        for follower in followers:
            follower.close()
        cli(swarm.cluster, 0, "service", "rm", name, check=False)
