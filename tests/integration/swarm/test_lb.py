"""Load balancing by strategy and the circuit breaker (issue 15) on one minked, with real
busybox tasks as backends and load from the host through an ingress-published port:
round robin's even shares, least-connections steering away from a backend that holds
connections, the cpu strategy away from a CPU-limited backend, source-hash stickiness, a
backend that refuses connections ejected (events, weights rewritten in place: the table
keeps its handle) and readmitted after its timer, and bad labels refused with 400."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.types import EndpointSpec, ServiceMode
from tests.conftest import Daemon, bridge_name, import_busybox, private_daemon
from tests.integration.test_cli import minke
from tests.support.polling import wait_for
from tests.support.swarm import swarm_client

pytestmark = pytest.mark.integration

# Every task serves its hostname over HTTP on 80 (busybox httpd, in the background so that
# a test can kill it and the container lives on, refusing connections) and, on 81, holds
# each connection open after writing its hostname until the client closes it.
SERVE = ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -p 80 -h /www && "
         "(nc -ll -p 81 -e sh -c 'hostname; exec cat' &) ; exec sleep 86400"]
PORT = 20000 + secrets.randbelow(4000) * 2  # two ports per service, one service at a time
SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with private_daemon("mk-lb-") as d:
        import_busybox(d, busybox_tar)
        yield d


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    with swarm_client(daemon) as c:
        yield c


@pytest.fixture
def service(client: docker.DockerClient, daemon: Daemon) -> Iterator[Any]:
    """Makes one service of 3 tasks serving on PORT (HTTP) and PORT+1 (held connections)."""
    made: list[Any] = []

    def make(labels: dict[str, str], replicas: int = 3) -> Any:
        svc = client.services.create(
            "busybox", SERVE, name=f"lb-{secrets.token_hex(3)}", labels=labels,
            mode=ServiceMode("replicated", replicas), stop_grace_period=SECOND,
            endpoint_spec=EndpointSpec(ports={PORT: 80, PORT + 1: 81}))
        made.append(svc)
        wait_for_backends(client, daemon, svc, replicas)
        return svc
    yield make
    for svc in made:
        svc.remove()


def wait_for_backends(client: docker.DockerClient, daemon: Daemon, svc: Any,
                      replicas: int) -> None:
    """Until the service's ``replicas`` backends are active, in the kernel's map of the
    published port, and serving. Asked of each task inside its container, not through the
    balancer: a connection refused there (httpd not listening yet) is a connect failure
    to the circuit breaker, and a request that lands before the table has every backend
    (source-hash) records an affinity with the wrong one."""
    def ready() -> bool:
        active = {b["Addresses"][0] for b in backends(client, svc) if b["State"] == "active"}
        if len(active) != replicas or in_data_path(daemon, svc) != active:
            return False
        containers = task_containers(client, svc).values()
        return len(containers) == replicas and all(
            c.exec_run(["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]).exit_code == 0
            for c in containers)
    wait_for(f"{replicas} backends active, in the data path and serving", ready)


def stop_httpd(container: Any) -> None:
    """Kill the task's httpd and wait until its port refuses connections: killall returns
    once the signal is sent, and a connection the dying httpd still accepts is a success
    to the circuit breaker (a SYN-ACK), reset afterwards."""
    assert container.exec_run(["killall", "httpd"]).exit_code == 0
    wait_for("httpd stopped", lambda: container.exec_run(
        ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]).exit_code != 0)


def in_data_path(daemon: Daemon, svc: Any, kind: str = "svcp", suffix: str = "_0") -> set[str]:
    """The addresses the kernel's map of the service's published port sends to (with
    ``kind="aff", suffix=""``: those its source-hash affinity records lead to)."""
    listing = subprocess.run(["nft", "list", "map", "inet", "minke_" + bridge_name(daemon.root),
                              f"{kind}_{svc.id[:12]}{suffix}"], capture_output=True,
                             text=True).stdout
    return set(re.findall(r": ([0-9.]+) \. 80\b", listing))


def recorded(daemon: Daemon, svc: Any) -> set[str]:
    """The backend addresses the service's affinity records lead to."""
    return in_data_path(daemon, svc, "aff", "")


def get(source: str = "127.0.0.1", port: int = PORT) -> str:
    """The hostname of the task that answered one HTTP request to the published port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(source, 0)) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode().strip()


def balancing(client: docker.DockerClient, svc: Any) -> dict[str, Any]:
    return client.api.inspect_service(svc.id).get("LoadBalancer") or {}


def backends(client: docker.DockerClient, svc: Any) -> list[dict[str, Any]]:
    return balancing(client, svc).get("Backends") or []


def task_containers(client: docker.DockerClient, svc: Any) -> dict[str, Any]:
    """Hostname (the container's short ID) → container of the service's tasks."""
    found = client.containers.list(filters={"label": f"com.docker.swarm.service.id={svc.id}"})
    return {c.id[:12]: c for c in found}


def table_handle(daemon: Daemon) -> str:
    """The handle of the daemon's nftables table (a new one when it is replaced)."""
    table = "minke_" + bridge_name(daemon.root)
    listing = subprocess.run(["nft", "-a", "list", "table", "inet", table],
                             capture_output=True, text=True, check=True).stdout
    return listing.splitlines()[0].rsplit("# handle", 1)[1].strip()


def test_round_robin_is_the_default_and_even(client: docker.DockerClient, service: Any) -> None:
    svc = service({})
    status = balancing(client, svc)
    assert status["Strategy"] == "round-robin" and status["Breaker"] == "on"
    assert [b["Weight"] for b in status["Backends"]] == [0.3333] * 3
    served = Counter(get() for _ in range(30))
    assert sorted(served.values()) == [10, 10, 10], served


def test_random_reaches_every_backend(client: docker.DockerClient, service: Any,
                                      daemon: Daemon) -> None:
    svc = service({"com.minke.lb.strategy": "random"})
    ruleset = subprocess.run(["nft", "list", "table", "inet", "minke_" + bridge_name(daemon.root)],
                             capture_output=True, text=True, check=True).stdout
    assert f"numgen random mod 66 map @svcp_{svc.id[:12]}_0" in ruleset
    assert len(Counter(get() for _ in range(30))) == 3  # missed one: p = 3 × (2/3)^30


def test_network_strategy_avoids_the_backend_moving_bytes(client: docker.DockerClient,
                                                          service: Any) -> None:
    svc = service({"com.minke.lb.strategy": "network", "com.minke.lb.period": "300ms"})
    stream = socket.create_connection(("127.0.0.1", PORT + 1), timeout=5)
    busy = stream.recv(100).decode().strip()
    stop = threading.Event()

    def pump() -> None:  # the task echoes it back (cat): bytes both ways on its link
        chunk = b"x" * 65536
        with contextlib.suppress(OSError):
            while not stop.is_set():
                stream.sendall(chunk)
                stream.recv(1 << 20)
    pumping = threading.Thread(target=pump)
    pumping.start()
    try:
        def avoided() -> bool:
            by_task = backends(client, svc)
            busiest = max(by_task, key=lambda b: b["BytesPerSecond"])
            others = [b["Weight"] for b in by_task if b is not busiest]
            return busiest["BytesPerSecond"] > 1e6 and busiest["Weight"] < 0.6 * min(others)
        wait_for("the busy backend's weight down", avoided, deadline=10)
        served = Counter(get() for _ in range(30))
        assert served[busy] < 8, served  # round robin: 10
    finally:
        stop.set()
        stream.close()
        pumping.join()


def test_least_connections_avoids_the_backend_holding_connections(
        client: docker.DockerClient, service: Any) -> None:
    svc = service({"com.minke.lb.strategy": "least-connections",
                   "com.minke.lb.period": "300ms"})
    held, names = [], []
    for _ in range(6):  # 2 per task; keep those that landed on the first task seen
        conn = socket.create_connection(("127.0.0.1", PORT + 1), timeout=5)
        names.append(conn.recv(100).decode().strip())
        held.append(conn)
    slow = names[0]
    for conn, name in zip(held, names, strict=True):
        if name != slow:
            conn.close()
    try:
        def steered() -> bool:
            by_task = {b["TaskID"]: b for b in backends(client, svc)}
            weights = sorted(b["Weight"] for b in by_task.values())
            return weights[0] < 0.1 and max(b["Connections"] for b in by_task.values()) >= 2
        wait_for("the holder's weight down", steered, deadline=10)
        served = Counter(get() for _ in range(40))
        assert served[slow] <= 4, served  # round robin would send it 13 or 14
        assert len(served) == 3 or served[slow] == 0
    finally:
        for conn in held:
            conn.close()


def test_cpu_strategy_favours_the_unthrottled_backends(client: docker.DockerClient,
                                                       service: Any) -> None:
    svc = service({"com.minke.lb.strategy": "cpu", "com.minke.lb.period": "300ms"})
    containers = task_containers(client, svc)
    limited = sorted(containers)[0]
    containers[limited].update(cpu_period=100_000, cpu_quota=25_000)

    def favoured() -> bool:
        by_task = {b["TaskID"]: b for b in backends(client, svc)}
        mine = next(t for t in client.api.tasks(filters={"service": svc.id})
                    if (t["Status"].get("ContainerStatus") or {}).get("ContainerID", "")
                    .startswith(limited) and t["ID"] in by_task)
        others = [b["Weight"] for t, b in by_task.items() if t != mine["ID"]]
        return by_task[mine["ID"]]["Weight"] < 0.5 * min(others)
    wait_for("the limited backend's weight down", favoured, deadline=10)
    served = Counter(get() for _ in range(60))
    assert served[limited] < 12, served  # capacity-proportional: 0.25 of 4.25 cores ≈ 6 %


def test_source_hash_sticks_to_a_backend_per_client(client: docker.DockerClient,
                                                    service: Any) -> None:
    svc = service({"com.minke.lb.strategy": "source-hash",
                   "com.minke.lb.affinity-timeout": "60s"})
    assert balancing(client, svc)["Strategy"] == "source-hash"
    chosen = {}
    for i in range(2, 10):
        source = f"127.0.0.{i}"
        answers = {get(source) for _ in range(4)}
        assert len(answers) == 1, (source, answers)
        chosen[source] = answers.pop()
    assert len(set(chosen.values())) > 1, chosen  # 8 clients did not all hash alike


def test_source_hash_affinity_outlives_changes_of_the_backend_set(
        client: docker.DockerClient, service: Any, daemon: Daemon) -> None:
    svc = service({"com.minke.lb.strategy": "source-hash",
                   "com.minke.lb.affinity-timeout": "10m",
                   "com.minke.lb.breaker.failures": "1"}, replicas=1)
    handle = table_handle(daemon)
    clients = [f"127.0.0.{i}" for i in range(2, 10)]
    original = {get(source) for source in clients}
    assert len(original) == 1
    first = original.pop()

    # Backends admitted later take new clients; the recorded ones stay where they were.
    svc.scale(3)
    wait_for_backends(client, daemon, svc, 3)
    newcomers = {}
    for i in range(1, 200):
        newcomers[f"127.0.1.{i}"] = get(f"127.0.1.{i}")
        if len(set(newcomers.values())) == 3:
            break
    assert len(set(newcomers.values())) == 3, newcomers
    assert {source: get(source) for source in clients} == dict.fromkeys(clients, first)
    assert table_handle(daemon) == handle  # the table was rewritten, not replaced

    # A new backend fails: ejected, its clients' records are forgotten (they move to a
    # healthy backend), the other clients' records stay.
    containers = task_containers(client, svc)
    bad = next(name for name in containers if name != first)
    stop_httpd(containers[bad])
    its_client = next(source for source, name in newcomers.items() if name == bad)
    with pytest.raises(OSError):
        get(its_client)  # refused: the one failure that ejects it
    ejected = wait_for("ejected", lambda: [b["Addresses"][0] for b in backends(client, svc)
                                           if b["State"] == "ejected"])
    wait_for("ejected in the kernel", lambda: ejected[0] not in in_data_path(daemon, svc)
             | recorded(daemon, svc))
    assert get(its_client) not in (bad, "")
    assert {source: get(source) for source in clients} == dict.fromkeys(clients, first)

    # Scaled back to one task: every client reaches it, none is held by a record of a
    # backend that left.
    assert containers[bad].exec_run(["httpd", "-p", "80", "-h", "/www"]).exit_code == 0
    svc.reload()  # scale() sends the version it holds
    svc.scale(1)

    def one_left() -> bool:
        left = {b["Addresses"][0] for b in backends(client, svc)}
        return len(left) == 1 and in_data_path(daemon, svc) == left and \
            recorded(daemon, svc) <= left and len(task_containers(client, svc)) == 1
    wait_for("one backend left, in the kernel too", one_left)
    remaining = next(iter(task_containers(client, svc)))
    assert {source: get(source) for source in [*clients, *newcomers]} == \
        dict.fromkeys([*clients, *newcomers], remaining)
    assert table_handle(daemon) == handle


def test_breaker_ejects_a_refusing_backend_in_place_and_readmits_it(
        client: docker.DockerClient, service: Any, daemon: Daemon) -> None:
    svc = service({"com.minke.lb.breaker.failures": "3",
                   "com.minke.lb.breaker.ejection": "3s"})
    handle = table_handle(daemon)
    since = time.time()
    containers = task_containers(client, svc)
    bad = sorted(containers)[0]
    stop_httpd(containers[bad])
    failed, served = 0, Counter[str]()
    for _ in range(30):
        try:
            served[get()] += 1
        except OSError:
            failed += 1
    # 3 refused connections eject it; the next few requests (sent back to back, hundreds
    # a second) may race the nft transaction that takes it out.
    assert 3 <= failed <= 10, (failed, served)
    assert bad not in served and len(served) == 2
    states = {b["State"] for b in backends(client, svc)}
    assert states == {"active", "ejected"}, backends(client, svc)
    assert table_handle(daemon) == handle  # the weights changed in place, not by a rebuild
    bad_address = next(b["Addresses"][0] for b in backends(client, svc)
                       if b["State"] == "ejected")
    in_kernel = subprocess.run(["nft", "list", "map", "inet", "minke_" + bridge_name(daemon.root),
                                f"svcp_{svc.id[:12]}_0"], capture_output=True, text=True,
                               check=True).stdout
    assert f"{bad_address} . 80" not in in_kernel and " . 80" in in_kernel
    ejected = [b for b in backends(client, svc) if b["State"] == "ejected"][0]
    assert ejected["Weight"] == 0 and ejected["Ejections"] == 1 and ejected["EjectedUntil"]

    assert containers[bad].exec_run(["httpd", "-p", "80", "-h", "/www"]).exit_code == 0
    # After 3 s it is probing: one slot's share, and 3 successful connects readmit it.
    wait_for("probing", lambda: any(b["State"] == "probing" for b in backends(client, svc)),
             deadline=10)

    def readmitted() -> bool:
        get()
        return all(b["State"] == "active" for b in backends(client, svc))
    wait_for("readmitted", readmitted, deadline=20)
    wait_for("full weight again", lambda: Counter(get() for _ in range(30))[bad] == 10,
             deadline=10)
    events = [e for e in client.events(since=since, until=time.time(), decode=True,
                                       filters={"type": "service"})
              if e["Action"].startswith("lb-")]
    actions = [e["Action"] for e in events]
    assert actions == ["lb-eject", "lb-probe", "lb-readmit"], events
    attributes = events[0]["Actor"]["Attributes"]
    assert events[0]["Actor"]["ID"] == svc.id and attributes["name"] == svc.name
    assert "consecutive connect failures" in attributes["reason"] and attributes["until"]
    assert table_handle(daemon) == handle


@pytest.mark.parametrize(("labels", "mode", "message"), [
    ({"com.minke.lb.strategy": "fastest"}, "vip", "unknown strategy 'fastest'"),
    ({"com.minke.lb.period": "20s"}, "vip", "com.minke.lb.period: 20s is out of range"),
    ({"com.minke.lb.breaker.max-ejected-percent": "150"}, "vip", "out of range"),
    ({"com.minke.lb.affinity-timeout": "5m"}, "vip", "applies to strategy source-hash"),
    ({"com.minke.lb.strategy": "source-hash"}, "dnsrr", "cannot apply with endpoint mode"),
    ({"com.minke.lb.wieght": "3"}, "vip", "unknown load-balancing label"),
])
def test_bad_labels_are_refused_with_400(client: docker.DockerClient, labels: dict[str, str],
                                         mode: str, message: str) -> None:
    name = f"lb-bad-{secrets.token_hex(3)}"
    with pytest.raises(docker.errors.APIError) as raised:
        client.services.create("busybox", ["sleep", "60"], name=name, labels=labels,
                               endpoint_spec=EndpointSpec(mode=mode))
    assert raised.value.status_code == 400 and message in str(raised.value), raised.value
    assert not client.services.list(filters={"name": name})


def test_bad_label_on_update_changes_nothing(client: docker.DockerClient) -> None:
    svc = client.services.create("busybox", ["sleep", "600"], name=f"lb-u-{secrets.token_hex(3)}",
                                 labels={"com.minke.lb.strategy": "random"})
    try:
        before = client.api.inspect_service(svc.id)
        spec = json.loads(json.dumps(before["Spec"]))
        spec["Labels"]["com.minke.lb.strategy"] = "cpu-ish"
        response = client.api._post_json(
            client.api._url("/services/{0}/update", svc.id), data=spec,
            params={"version": before["Version"]["Index"]})
        assert response.status_code == 400 and "unknown strategy" in response.text
        after = client.api.inspect_service(svc.id)
        assert after["Version"] == before["Version"] and after["Spec"] == before["Spec"]
    finally:
        svc.remove()


def test_minke_cli_sets_the_strategy_and_shows_the_balancer(
        client: docker.DockerClient, daemon: Daemon, service: Any) -> None:
    name = f"lb-cli-{secrets.token_hex(3)}"
    made = minke(daemon, "service", "create", "-d", "--name", name, "--lb-strategy",
                 "least-connections", "busybox", "sleep", "600")
    assert made.returncode == 0, made.stderr
    labels = client.services.get(name).attrs["Spec"]["Labels"]
    client.services.get(name).remove()
    assert labels["com.minke.lb.strategy"] == "least-connections"
    # minke's CLI has no --publish yet: a published service from docker-py, then minke's
    svc = service({})
    changed = minke(daemon, "service", "update", "-d", "--lb-strategy", "least-connections",
                    svc.name)
    assert changed.returncode == 0, changed.stderr
    wait_for("the new strategy", lambda: balancing(client, svc)["Strategy"]
             == "least-connections")
    shown = minke(daemon, "service", "lb", svc.name)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "strategy least-connections, period 1s, circuit breaker on"
    assert lines[1].split() == ["TASK", "ADDRESS", "STATE", "WEIGHT", "CONNECTIONS", "CPU",
                                "BYTES/S", "CONNECTS", "FAILURES"]
    assert len(lines) == 5 and all(" active " in line for line in lines[2:])
    bad = minke(daemon, "service", "update", "--lb-strategy", "fastest", svc.name)
    assert bad.returncode != 0 and "unknown strategy 'fastest'" in bad.stderr
