"""Virtual networks through the real docker CLI: names and aliases, isolation, published
ports (127.0.0.1, the host's address, -P, hairpin), connect/disconnect, DNS forwarding,
IPv6, bad input, and that nothing of minke's is left on the host afterwards."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from tests.conftest import Daemon, unique
from tests.support.cli import docker_text as docker
from tests.support.cli import needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration, needs_docker_cli]

PAGE = "hello from minke"


class Resources:
    """Containers and networks a test made, removed at the end even when it fails."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.containers: list[str] = []
        self.networks: list[str] = []

    def network(self, *args: str) -> str:
        name = unique("net")
        self.networks.append(name)
        docker(self.daemon, "network", "create", *args, name)
        return name

    def server(self, image: str, *args: str, name: str | None = None) -> str:
        """A busybox httpd serving PAGE on port 80."""
        name = name or unique("srv")
        self.containers.append(name)
        docker(self.daemon, "run", "-d", "--name", name, *args, image, "sh", "-c",
               f"mkdir -p /www && echo '{PAGE}' > /www/index.html && "
               "exec httpd -f -p 80 -h /www")
        return name

    def run(self, image: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return docker(self.daemon, "run", "--rm", *args[:-1], image, "sh", "-c", args[-1],
                      check=check)

    def close(self) -> None:
        for name in self.containers:
            docker(self.daemon, "rm", "-f", name, check=False)
        for name in self.networks:
            docker(self.daemon, "network", "rm", name, check=False)


@pytest.fixture
def res(minke_daemon: Daemon) -> Iterator[Resources]:
    resources = Resources(minke_daemon)
    try:
        yield resources
    finally:
        resources.close()


def fetch(address: str) -> str:
    # busybox's timeout, as the test image's static wget crashes on its -T option; "&& true"
    # keeps sh from exec'ing it as PID 1, which ignores the signal timeout sends.
    return f"timeout 5 wget -q -O - http://{address}/index.html && true"


def inspect(daemon: Daemon, name: str) -> dict:
    return json.loads(docker(daemon, "inspect", name).stdout)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def host_address() -> str:
    """The host's own (non-loopback) IPv4 address, as seen from its default route."""
    out = subprocess.run(["ip", "-4", "-o", "route", "get", "192.0.2.123"], text=True,
                         capture_output=True, check=True).stdout.split()
    return out[out.index("src") + 1]


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], text=True, capture_output=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_names_aliases_and_isolation(res: Resources, busybox_image: str) -> None:
    front = res.network()
    other = res.network()
    web = res.server(busybox_image, "--network", front, "--network-alias", "webalias")
    ip = inspect(res.daemon, web)["NetworkSettings"]["Networks"][front]["IPAddress"]
    assert ip
    by_name = res.run(busybox_image, "--network", front, fetch(web))
    assert by_name.stdout.strip() == PAGE, by_name.stderr
    by_alias = res.run(busybox_image, "--network", front, fetch("webalias"))
    assert by_alias.stdout.strip() == PAGE, by_alias.stderr
    resolv = res.run(busybox_image, "--network", front, "cat /etc/resolv.conf").stdout
    assert "nameserver 127.0.0.11" in resolv
    # Another network: the name does not resolve there, and the address is unreachable.
    assert res.run(busybox_image, "--network", other, f"nslookup {web}").returncode != 0
    assert res.run(busybox_image, "--network", other, fetch(ip)).returncode != 0
    # PTR of the server's address names it.
    ptr = res.run(busybox_image, "--network", front, f"nslookup {ip}").stdout
    assert web in ptr


def test_round_robin_alias(res: Resources, busybox_image: str) -> None:
    net = res.network()
    a = res.server(busybox_image, "--network", net, "--network-alias", "pool")
    b = res.server(busybox_image, "--network", net, "--network-alias", "pool")
    ips = {inspect(res.daemon, n)["NetworkSettings"]["Networks"][net]["IPAddress"]
           for n in (a, b)}
    out = res.run(busybox_image, "--network", net, "nslookup pool").stdout
    assert all(ip in out for ip in ips), out


def test_publish_on_localhost(res: Resources, busybox_image: str) -> None:
    port = free_port()
    name = res.server(busybox_image, "-p", f"127.0.0.1:{port}:80")
    ports = inspect(res.daemon, name)["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    curl = subprocess.run(["curl", "-s", "--max-time", "5", f"http://127.0.0.1:{port}/"],
                          capture_output=True, text=True)
    assert curl.stdout.strip() == PAGE


def test_publish_all_picks_a_free_port(res: Resources, busybox_image: str) -> None:
    name = res.server(busybox_image, "--expose", "80", "-P")
    line = docker(res.daemon, "port", name, "80/tcp").stdout.splitlines()[0]
    port = int(line.rsplit(":", 1)[1])
    assert line.startswith("0.0.0.0:")
    # From the host, on loopback and on its own address.
    for address in ("127.0.0.1", host_address()):
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as reply:
            assert reply.read().decode().strip() == PAGE
    # Hairpin: from a container, through the host's address.
    out = res.run(busybox_image, fetch(f"{host_address()}:{port}"))
    assert out.stdout.strip() == PAGE, out.stderr


def test_connect_and_disconnect_change_reachability(res: Resources, busybox_image: str) -> None:
    a = res.network()
    b = res.network()
    server = res.server(busybox_image, "--network", a)
    client = unique("cli")
    res.containers.append(client)
    docker(res.daemon, "run", "-d", "--name", client, "--network", b, busybox_image,
           "sleep", "300")

    def reach() -> bool:
        proc = docker(res.daemon, "exec", client, "sh", "-c", fetch(server),
                      check=False)
        return proc.stdout.strip() == PAGE

    assert not reach()
    docker(res.daemon, "network", "connect", "--alias", "extra", a, client)
    networks = inspect(res.daemon, client)["NetworkSettings"]["Networks"]
    assert set(networks) == {a, b} and "extra" in networks[a]["Aliases"]
    assert reach()
    members = json.loads(docker(res.daemon, "network", "inspect", a).stdout)[0]["Containers"]
    assert {m["Name"] for m in members.values()} == {server, client}
    docker(res.daemon, "network", "disconnect", a, client)
    assert not reach()
    assert set(inspect(res.daemon, client)["NetworkSettings"]["Networks"]) == {b}


def _dns_server(address: str, names: dict[str, str]) -> tuple[socket.socket, threading.Thread]:
    """A one-socket DNS server on the host answering A queries from ``names`` (a stand-in
    for a local resolver such as dnsmasq serving the host's /etc/hosts)."""
    from dnslib import QTYPE, RCODE, RR, A, DNSRecord

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))

    def serve() -> None:
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            request = DNSRecord.parse(data)
            reply = request.reply()
            name = str(request.q.qname).rstrip(".")
            if request.q.qtype == QTYPE.A and name in names:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(names[name]), ttl=60))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            sock.sendto(reply.pack(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, thread


def test_dns_forwards_other_names(res: Resources, busybox_image: str) -> None:
    net = res.network()
    address = f"127.{os.getpid() % 200 + 20}.{os.urandom(1)[0]}.53"
    sock, _ = _dns_server(address, {"db.minke-test.example": "10.11.12.13"})
    try:
        out = res.run(busybox_image, "--network", net, "--dns", address,
                      "nslookup db.minke-test.example")
        assert "10.11.12.13" in out.stdout, out.stdout + out.stderr
        # The container still sees 127.0.0.11, which forwarded the question.
        resolv = res.run(busybox_image, "--network", net, "--dns", address,
                         "cat /etc/resolv.conf").stdout
        assert "nameserver 127.0.0.11" in resolv and address not in resolv
    finally:
        sock.close()


def test_ipv6_between_containers(res: Resources, busybox_image: str) -> None:
    subnet = f"fd{os.urandom(1).hex()}:{os.urandom(2).hex()}:{os.urandom(2).hex()}::/64"
    net = res.network("--ipv6", "--subnet", subnet)
    server = res.server(busybox_image, "--network", net)
    ip6 = inspect(res.daemon, server)["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"]
    assert ipaddress.ip_address(ip6) in ipaddress.ip_network(subnet)
    out = res.run(busybox_image, "--network", net, fetch(f"[{ip6}]"))
    assert out.stdout.strip() == PAGE, out.stderr
    # Dual stack: the same container has an IPv4 address too.
    assert inspect(res.daemon, server)["NetworkSettings"]["Networks"][net]["IPAddress"]


def test_static_ip_and_default_bridge(res: Resources, busybox_image: str) -> None:
    net = res.network("--subnet", "10.213.7.0/24", "--gateway", "10.213.7.254",
                      "--ip-range", "10.213.7.128/25", "--aux-address", "r=10.213.7.129")
    fixed = res.server(busybox_image, "--network", net, "--ip", "10.213.7.10")
    assert inspect(res.daemon, fixed)["NetworkSettings"]["Networks"][net]["IPAddress"] \
        == "10.213.7.10"
    auto = res.server(busybox_image, "--network", net)
    settings = inspect(res.daemon, auto)["NetworkSettings"]["Networks"][net]
    assert settings["IPAddress"] == "10.213.7.130" and settings["Gateway"] == "10.213.7.254"
    # Default bridge: eth0 with the bridge network's address and a default route.
    out = res.run(busybox_image, "ip -4 addr show eth0; ip route").stdout
    assert "inet " in out and "default via" in out


def test_bad_input(res: Resources, busybox_image: str) -> None:
    net = res.network("--subnet", "10.214.1.0/24")
    overlap = docker(res.daemon, "network", "create", "--subnet", "10.214.1.128/25",
                     unique("bad"), check=False)
    assert overlap.returncode != 0 and "overlaps" in overlap.stderr
    gateway = docker(res.daemon, "network", "create", "--subnet", "10.214.2.0/24",
                     "--gateway", "10.99.0.1", unique("bad"), check=False)
    # The docker CLI refuses it itself; the daemon answers Docker's 500 text to others.
    assert "gateway" in gateway.stderr and "10.99.0.1" in gateway.stderr
    outside = docker(res.daemon, "run", "--rm", "--network", net, "--ip", "10.214.9.9",
                     busybox_image, "true", check=False)
    assert outside.returncode == 125 and "does not belong" in outside.stderr
    taken = res.server(busybox_image, "--network", net, "--ip", "10.214.1.50")
    again = docker(res.daemon, "run", "--rm", "--network", net, "--ip", "10.214.1.50",
                   busybox_image, "true", check=False)
    assert again.returncode != 0 and "Address already in use" in again.stderr
    unknown = docker(res.daemon, "run", "--rm", "--network", "no-such-net", busybox_image,
                     "true", check=False)
    assert "network no-such-net not found" in unknown.stderr
    in_use = docker(res.daemon, "network", "rm", net, check=False)
    assert "has active endpoints" in in_use.stderr
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        name = unique("busy")
        res.containers.append(name)
        busy = docker(res.daemon, "run", "-d", "--name", name, "-p", f"{port}:80",
                      busybox_image, "sleep", "30", check=False)
        assert busy.returncode != 0 and "address already in use" in busy.stderr
    record = inspect(res.daemon, name)
    assert not record["State"]["Running"] and not record["NetworkSettings"]["SandboxKey"]
    assert taken


def test_nothing_left_on_the_host(minke_daemon: Daemon, busybox_image: str) -> None:
    res = Resources(minke_daemon)
    try:
        net = res.network("--internal")
        network_id = json.loads(docker(minke_daemon, "network", "inspect", net).stdout)[0]["Id"]
        server = res.server(busybox_image, "--network", net, "-p", "127.0.0.1::80")
        endpoint = inspect(minke_daemon, server)["NetworkSettings"]["Networks"][net]
        veth = "veth" + endpoint["EndpointID"][:7]
        assert veth in host_links() and f"mk-{network_id[:12]}" in host_links()
        ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                                 text=True).stdout
        assert endpoint["IPAddress"] in ruleset
    finally:
        res.close()
    # A container's veth goes with its namespace, which the kernel frees in the background.
    deadline = time.monotonic() + 10
    while veth in host_links() and time.monotonic() < deadline:
        time.sleep(0.05)
    links = host_links()
    assert veth not in links and f"mk-{network_id[:12]}" not in links
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert endpoint["IPAddress"] not in ruleset and f"mk-{network_id[:12]}" not in ruleset
    netns_dir = minke_daemon.exec_root / "netns"
    assert not any(p.name == inspect_id for p in netns_dir.iterdir()
                   for inspect_id in [server]) if netns_dir.exists() else True
