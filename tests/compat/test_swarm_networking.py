"""Swarm networking on one minked through the real docker CLI and docker-py: overlay
networks (create, ls, inspect, rm; refused outside a swarm), the ingress network, services
on networks with VIPs, the embedded DNS (``<service>``, ``tasks.<service>``), nftables VIP
balancing over every ready task, a killed task taken out, published ports (ingress and
host mode, conflicts), a rolling update with no failed request, and nothing left on the
host after ``swarm leave``."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from tests.conftest import Daemon, import_busybox, private_daemon
from tests.support.cli import docker_text, needs_docker_cli
from tests.support.polling import wait_for
from tests.support.swarm import swarm_client

pytestmark = [pytest.mark.compat, pytest.mark.integration, needs_docker_cli]

GRACE = "1s"
# busybox httpd serving one file that names the container (its hostname): the answer
# tells which task served a request.
HTTPD = ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && "
         "exec httpd -f -p 80 -h /www"]


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with private_daemon("mk-snet-") as d:
        import_busybox(d, busybox_tar)
        yield d


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    with swarm_client(daemon) as c:
        yield c
        if daemon.process.poll() is None:
            for container in c.containers.list(all=True, filters={"label": "snet-test"}):
                container.remove(force=True)


def cli(daemon: Daemon, *args: str) -> str:
    return docker_text(daemon, *args).stdout


def running(client: docker.DockerClient, name: str) -> list[dict[str, Any]]:
    return client.api.containers(filters={"label": f"com.docker.swarm.service.name={name}"})


def converged(client: docker.DockerClient, name: str, n: int) -> bool:
    tasks = client.services.get(name).tasks()
    up = [t for t in tasks if t["Status"]["State"] == "running"
          and t["DesiredState"] == "running"]
    return len(up) == n and len(running(client, name)) == n


def exec_in(client: docker.DockerClient, container_id: str, *cmd: str) -> tuple[int, str]:
    code, out = client.containers.get(container_id).exec_run(list(cmd))
    return code, out.decode()


def test_overlay_network_lifecycle(daemon: Daemon, busybox_tar: Path) -> None:
    c = docker.DockerClient(base_url=daemon.host, version="1.41", timeout=60)
    c.api.leave_swarm(force=True)
    refused = docker_text(daemon, "network", "create", "-d", "overlay", "nope", check=False)
    assert refused.returncode != 0
    assert "This node is not a swarm manager" in refused.stderr, refused
    c.swarm.init(advertise_addr="127.0.0.1")
    try:
        ingress = json.loads(cli(daemon, "network", "inspect", "ingress"))[0]
        assert ingress["Scope"] == "swarm" and ingress["Driver"] == "overlay"
        assert ingress["Ingress"] is True and ingress["IPAM"]["Config"][0]["Subnet"]
        net_id = cli(daemon, "network", "create", "-d", "overlay", "--attachable",
                     "--subnet", "10.231.7.0/24", "snet-a").strip()
        doc = json.loads(cli(daemon, "network", "inspect", "snet-a"))[0]
        assert doc["Id"] == net_id and doc["Scope"] == "swarm" and doc["Driver"] == "overlay"
        assert doc["Attachable"] is True
        assert doc["IPAM"]["Config"][0]["Subnet"] == "10.231.7.0/24"
        listing = cli(daemon, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
        assert "snet-a overlay swarm" in listing and "ingress overlay swarm" in listing
        again = docker_text(daemon, "network", "create", "-d", "overlay", "snet-a",
                            check=False)
        assert again.returncode != 0 and "already exists" in again.stderr
        iface = "mk-" + net_id[:12]
        assert subprocess.run(["ip", "link", "show", iface], capture_output=True
                              ).returncode == 0
        # a standalone container on it keeps it (Docker: an attachment task uses it)
        box = c.containers.run("busybox", ["sleep", "600"], detach=True, network="snet-a")
        try:
            refused = docker_text(daemon, "network", "rm", "snet-a", check=False)
            assert refused.returncode != 0 and "active endpoints" in refused.stderr, refused
        finally:
            box.remove(force=True)
        cli(daemon, "network", "rm", "snet-a")
        assert "snet-a" not in cli(daemon, "network", "ls")
        assert subprocess.run(["ip", "link", "show", iface], capture_output=True
                              ).returncode != 0
    finally:
        c.api.leave_swarm(force=True)
        c.close()
    assert "ingress" not in cli(daemon, "network", "ls")
    # the ingress network's bridge went with the swarm
    assert subprocess.run(["ip", "link", "show", "mk-" + ingress["Id"][:12]],
                          capture_output=True).returncode != 0


def test_leave_takes_networks_vips_and_rules_off_the_host(client: docker.DockerClient,
                                                          daemon: Daemon) -> None:
    net_id = cli(daemon, "network", "create", "-d", "overlay", "snet-l").strip()
    cli(daemon, "service", "create", "-d", "--name", "gone", "--network", "snet-l", "-p",
        "18451:80", "--stop-grace-period", GRACE, "busybox", *HTTPD)
    wait_for("gone running", lambda: converged(client, "gone", 1))
    vip = json.loads(cli(daemon, "service", "inspect", "gone"))[0]["Endpoint"][
        "VirtualIPs"][-1]["Addr"].split("/")[0]
    bridge = "mk-" + net_id[:12]
    addresses = subprocess.run(["ip", "-4", "addr", "show", bridge], capture_output=True,
                               text=True).stdout
    assert f"{vip}/32" in addresses, addresses
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                             text=True).stdout
    service_id = client.services.get("gone").id
    assert f"svc_{service_id[:12]}" in ruleset and "dport 18451" in ruleset
    client.api.leave_swarm(force=True)
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True
                          ).returncode != 0
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                             text=True).stdout
    assert f"svc_{service_id[:12]}" not in ruleset and "dport 18451" not in ruleset
    assert not running(client, "gone")


def fetch(client: docker.DockerClient, container_id: str, url: str) -> str:
    # (busybox-static's wget -T crashes: the time limit is timeout's)
    code, out = exec_in(client, container_id, "timeout", "5", "wget", "-q", "-O", "-", url)
    assert code == 0, out
    return out.strip()


def test_service_vip_dns_and_balancing(client: docker.DockerClient, daemon: Daemon) -> None:
    cli(daemon, "network", "create", "-d", "overlay", "--attachable", "snet-b")
    out = cli(daemon, "service", "create", "-d", "--name", "web", "--network", "snet-b",
              "--replicas", "3", "--stop-grace-period", GRACE, "busybox", *HTTPD)
    service_id = out.strip()
    cli(daemon, "service", "create", "-d", "--name", "rr", "--network", "snet-b",
        "--endpoint-mode", "dnsrr", "--stop-grace-period", GRACE, "busybox", "sleep", "600")
    wait_for("web running", lambda: converged(client, "web", 3))
    wait_for("rr running", lambda: converged(client, "rr", 1))
    net = json.loads(cli(daemon, "network", "inspect", "snet-b"))[0]
    inspect = json.loads(cli(daemon, "service", "inspect", "web"))[0]
    vips = inspect["Endpoint"]["VirtualIPs"]
    assert [v["NetworkID"] for v in vips] == [net["Id"]], vips
    vip = vips[0]["Addr"].split("/")[0]
    rr = json.loads(cli(daemon, "service", "inspect", "rr"))[0]
    assert not rr["Endpoint"].get("VirtualIPs")
    tasks = {c["Id"]: c["NetworkSettings"]["Networks"]["snet-b"]["IPAddress"]
             for c in running(client, "web")}
    client_box = running(client, "rr")[0]["Id"]
    # DNS: the service's name is its VIP; tasks.<name> the tasks; dnsrr the tasks
    wait_for("DNS answers", lambda: vip in exec_in(client, client_box, "nslookup", "web")[1])
    _, answer = exec_in(client, client_box, "nslookup", "tasks.web")
    assert all(ip in answer for ip in tasks.values()), answer
    rr_ip = running(client, "rr")[0]["NetworkSettings"]["Networks"]["snet-b"]["IPAddress"]
    assert rr_ip in exec_in(client, client_box, "nslookup", "rr")[1]
    # an attachable container resolves them too
    extra = client.containers.run("busybox", ["sleep", "600"], detach=True,
                                  network="snet-b", labels={"snet-test": "1"})
    assert vip in exec_in(client, extra.id, "nslookup", "web")[1]
    # the VIP spreads over every task (round robin), from a task and through the name
    served = {fetch(client, client_box, f"http://{vip}/") for _ in range(9)}
    hostnames = {client.containers.get(cid).attrs["Config"]["Hostname"] for cid in tasks}
    assert served == hostnames, (served, hostnames)
    assert fetch(client, client_box, "http://web/") in hostnames
    # hairpin: a task reaches its own service's VIP
    one = next(iter(tasks))
    assert fetch(client, one, f"http://{vip}/") in hostnames
    # a killed task is taken out (and replaced): every answer comes from a live task
    client.containers.get(one).kill()
    killed = client.containers.get(one).attrs["Config"]["Hostname"]
    wait_for("replacement", lambda: converged(client, "web", 3))
    live = {client.containers.get(c["Id"]).attrs["Config"]["Hostname"]
            for c in running(client, "web")}
    served = {fetch(client, client_box, f"http://{vip}/") for _ in range(9)}
    assert killed not in served and served == live, (served, live)
    # in use: the network cannot go
    refused = docker_text(daemon, "network", "rm", "snet-b", check=False)
    assert refused.returncode != 0 and "in use by service" in refused.stderr, refused
    cli(daemon, "service", "rm", "web", "rr")
    assert service_id


def http_get(port: int, host: str = "127.0.0.1") -> str:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.") and " 200 " in head.splitlines()[0], head
    return body.strip()


def answers(port: int) -> bool:
    try:
        return bool(http_get(port))
    except (OSError, AssertionError):
        return False


def test_published_ports(client: docker.DockerClient, daemon: Daemon) -> None:
    cli(daemon, "network", "create", "-d", "overlay", "snet-p")
    cli(daemon, "service", "create", "-d", "--name", "pub", "--network", "snet-p",
        "-p", "18431:80", "--replicas", "2", "--stop-grace-period", GRACE, "busybox", *HTTPD)
    wait_for("pub running", lambda: converged(client, "pub", 2))
    inspect = json.loads(cli(daemon, "service", "inspect", "pub"))[0]
    assert inspect["Endpoint"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80,
                                             "PublishedPort": 18431,
                                             "PublishMode": "ingress"}]
    ingress = json.loads(cli(daemon, "network", "inspect", "ingress"))[0]
    assert {v["NetworkID"] for v in inspect["Endpoint"]["VirtualIPs"]} == {
        ingress["Id"], json.loads(cli(daemon, "network", "inspect", "snet-p"))[0]["Id"]}
    hostnames = {client.containers.get(c["Id"]).attrs["Config"]["Hostname"]
                 for c in running(client, "pub")}
    assert {http_get(18431) for _ in range(6)} == hostnames
    # a second service on the same port: Docker's error, and nothing stored
    taken = docker_text(daemon, "service", "create", "-d", "--name", "pub2", "-p",
                        "18431:80", "busybox", *HTTPD, check=False)
    assert taken.returncode != 0
    assert "port '18431' is already in use by service 'pub'" in taken.stderr, taken
    assert "pub2" not in cli(daemon, "service", "ls")
    version = inspect["Version"]["Index"]
    cli(daemon, "service", "create", "-d", "--name", "other", "-p", "18432:80",
        "--stop-grace-period", GRACE, "busybox", *HTTPD)
    clash = docker_text(daemon, "service", "update", "-d", "--publish-add", "18432:8080",
                        "pub", check=False)
    assert clash.returncode != 0 and "already in use by service 'other'" in clash.stderr
    assert json.loads(cli(daemon, "service", "inspect", "pub"))[0]["Version"]["Index"] == \
        version
    # host mode: published on the task's container itself
    cli(daemon, "service", "create", "-d", "--name", "hostmode", "--publish",
        "published=18433,target=80,mode=host", "--stop-grace-period", GRACE,
        "busybox", *HTTPD)
    wait_for("hostmode running", lambda: converged(client, "hostmode", 1))
    box = running(client, "hostmode")[0]
    assert box["Ports"][0]["PublicPort"] == 18433, box["Ports"]
    assert http_get(18433) == client.containers.get(box["Id"]).attrs["Config"]["Hostname"]
    # a port published later: the tasks are redeployed onto the ingress network (SwarmKit's
    # IsTaskDirty compares the endpoint too) and the port answers
    cli(daemon, "service", "create", "-d", "--name", "late", "--stop-grace-period", GRACE,
        "busybox", *HTTPD)
    wait_for("late running", lambda: converged(client, "late", 1))
    first = running(client, "late")[0]["Id"]
    cli(daemon, "service", "update", "-d", "--publish-add", "18434:80", "late")
    wait_for("the late port answers", lambda: answers(18434))
    assert running(client, "late")[0]["Id"] != first
    cli(daemon, "service", "rm", "pub", "other", "hostmode", "late")
    wait_for("ports closed", lambda: not running(client, "pub"))
    with pytest.raises(OSError):
        http_get(18431)


def test_rolling_update_drops_no_request(client: docker.DockerClient, daemon: Daemon) -> None:
    client.images.get("busybox:latest").tag("busybox", "v2")
    cli(daemon, "service", "create", "-d", "--name", "roll", "-p", "18441:80",
        "--replicas", "4", "--stop-grace-period", GRACE,
        "--health-cmd", "wget -q -O /dev/null http://127.0.0.1/", "--health-interval", "1s",
        "--health-start-period", "1s", "busybox", *HTTPD)
    wait_for("roll healthy", lambda: converged(client, "roll", 4) and all(
        (c["Status"] or "").endswith("(healthy)") for c in running(client, "roll")))
    wait_for("roll answering", lambda: answers(18441))
    before = {c["Id"] for c in running(client, "roll")}
    # a bounded client loop, loopback only, through the published port
    update = subprocess.Popen(
        ["docker", "service", "update", "--update-order", "start-first", "--image",
         "busybox:v2", "--no-resolve-image", "--env-add", "V=2", "roll"],
        env=daemon.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ok = failed = 0
    errors: list[str] = []
    deadline = time.monotonic() + 120
    try:
        while update.poll() is None and ok + failed < 100_000 and time.monotonic() < deadline:
            try:
                http_get(18441)
                ok += 1
            except (OSError, AssertionError) as exc:
                failed += 1
                errors.append(repr(exc))
    finally:
        if update.poll() is None:
            update.kill()
        _, stderr = update.communicate()
    assert update.returncode == 0, stderr
    after = {c["Id"] for c in running(client, "roll")}
    assert len(after) == 4 and not after & before, (before, after)
    assert ok > 0 and failed == 0, (ok, failed, errors[:5])
    cli(daemon, "service", "rm", "roll")
