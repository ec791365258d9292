"""``docker stats`` and docker-py's stats against minked: Docker's JSON shape, a precpu in
one-shot documents, streamed documents a second apart chained by ``preread``, the
percentages both clients compute, and the throttling a CPU quota causes."""

from __future__ import annotations

import re
import time

import docker as docker_py
import pytest
from tests.conftest import Daemon, unique
from tests.integration.security.security_support import docker

pytestmark = [pytest.mark.integration, pytest.mark.compat]
MB = 1024 * 1024


@pytest.fixture
def busy(minke_daemon: Daemon, busybox_image: str):
    """A container spinning on one CPU, limited to half of one, and an idle one."""
    names = unique("busy"), unique("idle")
    docker(minke_daemon, "run", "-d", "--name", names[0], "--network", "none", "--cpus", "0.5",
           "--memory", "64m", busybox_image, "sh", "-c", "while true; do :; done")
    docker(minke_daemon, "run", "-d", "--name", names[1], "--network", "none", busybox_image,
           "sleep", "300")
    yield names
    for name in names:
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_docker_stats_no_stream_prints_sensible_percentages(minke_daemon: Daemon,
                                                            busy: tuple[str, str]) -> None:
    out = docker(minke_daemon, "stats", "--no-stream", "--format",
                 "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.PIDs}}", *busy).stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    busy_cpu = float(rows[busy[0]][0].rstrip("%"))
    # The quota caps it at half a CPU: Docker's CPU % is of one CPU, so at most ~50%.
    assert 5.0 < busy_cpu < 65.0, out
    assert float(rows[busy[1]][0].rstrip("%")) < 5.0
    assert rows[busy[0]][3] == "64MiB" and rows[busy[0]][-1] == "1"
    assert re.fullmatch(r"\d+(\.\d+)?%", rows[busy[0]][4])


def test_docker_py_stats_shape_and_percentages(minke_daemon: Daemon,
                                               busy: tuple[str, str]) -> None:
    client = docker_py.DockerClient(base_url=minke_daemon.host, version="auto")
    try:
        doc = client.containers.get(busy[0]).stats(stream=False)
    finally:
        client.close()
    for key in ("read", "preread", "pids_stats", "blkio_stats", "num_procs", "cpu_stats",
                "precpu_stats", "memory_stats", "name", "id"):
        assert key in doc
    cpu, pre = doc["cpu_stats"], doc["precpu_stats"]
    assert set(cpu["cpu_usage"]) >= {"total_usage", "usage_in_kernelmode", "usage_in_usermode"}
    assert cpu["online_cpus"] >= 1 and "throttling_data" in cpu
    assert doc["preread"] != "0001-01-01T00:00:00Z" and doc["preread"] < doc["read"]
    cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    percent = cpu_delta / system_delta * cpu["online_cpus"] * 100
    assert 5.0 < percent < 65.0
    memory = doc["memory_stats"]
    assert memory["limit"] == 64 * MB and 0 < memory["usage"] < 64 * MB
    assert "cache" in memory["stats"] or "file" in memory["stats"]
    assert doc["pids_stats"]["current"] == 1 and doc["name"] == "/" + busy[0]


def test_throttling_data_shows_the_quota_biting(minke_daemon: Daemon,
                                               busybox_image: str) -> None:
    """A busy loop under --cpus 0.01 (1 ms per 100 ms period) exceeds its quota in any period
    it gets the CPU for a scheduler slice, however loaded the host (a loop held to half a CPU
    may never reach its quota on a busy machine): the throttled periods must show, within a
    bounded wait for the loop to be scheduled at all."""
    name = unique("throttled")
    docker(minke_daemon, "run", "-d", "--name", name, "--network", "none", "--cpus", "0.01",
           busybox_image, "sh", "-c", "while true; do :; done")
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    try:
        deadline = time.monotonic() + 10
        while True:
            throttling = client.stats(name, stream=False)["cpu_stats"]["throttling_data"]
            if throttling["throttled_periods"] > 0 or time.monotonic() > deadline:
                break
        assert throttling["periods"] >= throttling["throttled_periods"] > 0, throttling
        assert throttling["throttled_time"] > 0
    finally:
        client.close()
        docker(minke_daemon, "rm", "-f", name, check=False)


def test_stream_sends_a_document_a_second_chained_by_preread(minke_daemon: Daemon,
                                                             busy: tuple[str, str]) -> None:
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    try:
        stream = client.stats(busy[0], decode=True, stream=True)
        docs = [next(stream) for _ in range(3)]
        stream.close()
    finally:
        client.close()
    assert docs[1]["preread"] == docs[0]["read"] and docs[2]["preread"] == docs[1]["read"]
    assert docs[2]["cpu_stats"]["cpu_usage"]["total_usage"] > \
        docs[1]["cpu_stats"]["cpu_usage"]["total_usage"]


def test_stopped_and_missing_containers(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("stopped")
    docker(minke_daemon, "create", "--name", name, busybox_image)
    client = docker_py.APIClient(base_url=minke_daemon.host, version="auto")
    try:
        doc = client.stats(name, stream=False)
        assert doc["read"] == "0001-01-01T00:00:00Z" and doc["memory_stats"] == {}
        assert doc["name"] == "/" + name
        with pytest.raises(docker_py.errors.NotFound):
            client.stats("no-such-container", stream=False)
        with pytest.raises(docker_py.errors.NotFound):
            next(client.stats("no-such-container", stream=True))
    finally:
        client.close()
        docker(minke_daemon, "rm", "-f", name, check=False)
