"""What a user watches of a swarm service: the progress ``minke service create|scale|update``
show until the service converged (``-d`` returns at once), and ``service logs --follow``
following the tasks started after it began (a scale-up), through the docker CLI."""

from __future__ import annotations

import queue
import re
import subprocess
import threading

import docker
import pytest
from tests.compat.test_swarm_services import (  # noqa: F401 (fixtures)
    client,
    daemon,
    running_tasks,
    wait_for,
)
from tests.conftest import Daemon
from tests.support.cli import DOCKER, docker_text, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]


def test_minke_service_progress_until_converged(client: docker.DockerClient,  # noqa: F811
                                                daemon: Daemon) -> None:  # noqa: F811
    from tests.integration.test_cli import minke

    def ok(*args: str) -> list[str]:
        r = minke(daemon, *args)
        assert r.returncode == 0, f"minke {' '.join(args)}: {r.stderr}"
        return r.stdout.splitlines()

    out = ok("service", "create", "--name", "shown", "--replicas", "2", "--update-monitor",
             "300ms", "--stop-grace-period", "1s", "busybox", "sleep", "600")
    service_id = out[0]
    # not a terminal: plain lines as docker's, a slot's line when its state changes
    assert "1/2: running" in out and "2/2: running" in out, out
    assert out.index("overall progress: 2 out of 2 tasks") > out.index("1/2: running"), out
    assert "verify: Waiting 1 seconds to verify that tasks are stable..." in out, out
    assert out[-1] == f"verify: Service {service_id} converged", out
    service = client.services.get(service_id)
    assert len(running_tasks(service)) == 2  # returned once converged

    out = ok("service", "scale", "shown=3")
    assert out[0] == "shown scaled to 3" and "3/3: running" in out, out
    assert "overall progress: 3 out of 3 tasks" in out, out
    assert len(running_tasks(service)) == 3

    out = ok("service", "update", "--env-add", "V=2", "shown")
    assert out[0] == "shown" and out[-1] == f"verify: Service {service_id} converged", out
    assert sorted(t["Spec"]["ContainerSpec"].get("Env") == ["V=2"]
                  for t in running_tasks(service)) == [True] * 3

    out = ok("service", "scale", "-d", "shown=4")
    assert out == ["shown scaled to 4"]
    out = ok("service", "create", "-d", "--name", "quick", "busybox", "sleep", "600")
    assert len(out) == 1 and out[0] == client.services.get("quick").id
    ok("service", "rm", "shown", "quick")


@needs_docker_cli
def test_service_logs_follow_picks_up_new_tasks(client: docker.DockerClient,  # noqa: F811
                                                daemon: Daemon) -> None:  # noqa: F811
    service = client.services.create(
        "busybox", ["sh", "-c", "while :; do echo tick $SLOT; sleep 0.2; done"],
        name="ticker", env=["SLOT={{.Task.Slot}}"], stop_grace_period=1_000_000_000)
    wait_for("one running task", lambda: len(running_tasks(service)) == 1)
    follow = subprocess.Popen([DOCKER, "service", "logs", "--follow", "--raw", "ticker"],
                              env=daemon.env(), stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in follow.stdout or []],
                     daemon=True).start()
    seen: set[str] = set()

    def saw(text: str) -> bool:
        while not lines.empty():
            seen.add(lines.get())
        return text in seen
    try:
        wait_for("slot 1 followed", lambda: saw("tick 1"), deadline=30)
        service.scale(2)
        wait_for("slot 2, started after the follow began", lambda: saw("tick 2"), deadline=30)
        assert follow.poll() is None  # still following
    finally:
        follow.kill()
        follow.wait()
        service.remove()


@needs_docker_cli
def test_service_ps_history_as_docker_shows_it(client: docker.DockerClient,  # noqa: F811
                                               daemon: Daemon) -> None:  # noqa: F811
    from tests.integration.test_cli import minke

    def both(*args: str) -> list[list[tuple[str, str]]]:
        """(ID, NAME) of each row as docker and minke print them (the times may differ)."""
        out = [docker_text(daemon, *args).stdout, minke(daemon, *args).stdout]
        return [[(line[:line.index(" ")], line.split("  ")[1].strip() if "\\_" not in line
                  else line.split("\\_ ")[1].split()[0] + " (old)")
                 for line in text.splitlines()[1:]] for text in out]

    client.services.create("busybox", ["sleep", "600"], name="history",
                           mode=docker.types.ServiceMode("replicated", replicas=2),
                           stop_grace_period=1_000_000_000)
    for _ in range(6):  # 7 tasks per slot made: 5 kept
        r = minke(daemon, "service", "update", "--force", "-q", "--update-monitor", "1ms",
                  "history")
        assert r.returncode == 0, r.stderr
    docker_rows, minke_rows = both("service", "ps", "history")
    assert minke_rows == docker_rows
    assert [name for _, name in minke_rows] == ["history.1"] + ["history.1 (old)"] * 4 + \
        ["history.2"] + ["history.2 (old)"] * 4
    docker_rows, minke_rows = both("service", "ps", "--no-trunc", "history")
    assert minke_rows == docker_rows and len(minke_rows[0][0]) == 25
    docker_rows, minke_rows = both("service", "ps", "-f", "desired-state=running", "history")
    assert minke_rows == docker_rows
    assert [name for _, name in minke_rows] == ["history.1", "history.2"]
    client.services.get("history").remove()

    # a long error, truncated as docker does (and whole with --no-trunc)
    missing = client.services.create("nosuch-image-for-a-long-error:latest", name="broken")
    wait_for("a rejected task", lambda: any(t["Status"].get("Err") for t in missing.tasks()))
    errors = [re.findall(r'"[^"]+"', docker_text(daemon, "service", "ps", *flags,
                                                  "broken").stdout)[:1]
              for flags in ((), ("--no-trunc",))]
    assert len(errors[0][0]) == 30 + 2 and errors[0][0].endswith('…"'), errors
    for flags, docker_err in zip(((), ("--no-trunc",)), errors, strict=True):
        out = minke(daemon, "service", "ps", *flags, "broken").stdout
        assert re.findall(r'"[^"]+"', out)[:1] == docker_err, out
    missing.remove()
