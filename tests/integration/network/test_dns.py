"""The embedded DNS at 127.0.0.11 asked directly, over UDP and TCP, from inside a container's
network namespace: names, aliases, PTR, links, and that renames, disconnects and connects
show in the answers at once (the server answers from an in-memory view kept current by the
network service and the event bus)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord
from tests.conftest import Daemon, unique
from tests.support.cli import docker_text as docker
from tests.support.cli import needs_docker_cli

from minke.engine.network import netns

pytestmark = [pytest.mark.compat, pytest.mark.integration, needs_docker_cli]


class Setup:
    """Containers and networks a test made, removed at the end even when it fails."""

    def __init__(self, daemon: Daemon, image: str) -> None:
        self.daemon, self.image = daemon, image
        self.containers: list[str] = []
        self.networks: list[str] = []

    def network(self, *args: str) -> str:
        name = unique("dnsnet")
        self.networks.append(name)
        docker(self.daemon, "network", "create", *args, name)
        return name

    def container(self, *args: str) -> str:
        name = unique("dns")
        self.containers.append(name)
        docker(self.daemon, "run", "-d", "--name", name, *args, self.image, "sleep", "300")
        return name

    def inspect(self, name: str) -> dict:
        return json.loads(docker(self.daemon, "inspect", name).stdout)[0]

    def ip(self, name: str, network: str) -> str:
        return self.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]

    def ask(self, name: str, qname: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
        """The embedded server's reply to a question asked from inside container ``name``."""
        pid = self.inspect(name)["State"]["Pid"]
        query = DNSRecord.question(qname, qtype)
        reply = netns.run_in(f"/proc/{pid}/ns/net",
                             lambda: query.send("127.0.0.11", 53, tcp=tcp, timeout=5))
        return DNSRecord.parse(reply)

    def addresses(self, name: str, qname: str, tcp: bool = False) -> list[str]:
        reply = self.ask(name, qname, tcp=tcp)
        assert reply.header.rcode == RCODE.NOERROR, reply
        return sorted(str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A)

    def close(self) -> None:
        for name in self.containers:
            docker(self.daemon, "rm", "-f", name, check=False)
        for name in self.networks:
            docker(self.daemon, "network", "rm", name, check=False)


@pytest.fixture
def setup(minke_daemon: Daemon, busybox_image: str) -> Iterator[Setup]:
    made = Setup(minke_daemon, busybox_image)
    try:
        yield made
    finally:
        made.close()


def test_names_aliases_and_ptr_over_udp_and_tcp(setup: Setup) -> None:
    net = setup.network()
    web = setup.container("--network", net, "--network-alias", "WebAlias")
    client = setup.container("--network", net)
    ip = setup.ip(web, net)
    for tcp in (False, True):
        for qname in (web, "webalias", f"WEBALIAS.{net}", f"{web}.{net}",
                      setup.inspect(web)["Id"][:12]):
            assert setup.addresses(client, qname, tcp=tcp) == [ip], qname
    reply = setup.ask(client, ".".join(reversed(ip.split("."))) + ".in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == [f"{web}.{net}."]
    # A known name without an IPv6 address: no answer, and no error.
    reply = setup.ask(client, web, "AAAA")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr


def test_rename_disconnect_and_connect_show_at_once(setup: Setup) -> None:
    # Internal: names that are not ours fail at once instead of going to the host's servers.
    net = setup.network("--internal")
    web = setup.container("--network", net)
    client = setup.container("--network", net)
    ip = setup.ip(web, net)
    assert setup.addresses(client, web) == [ip]

    renamed = unique("renamed")
    docker(setup.daemon, "rename", web, renamed)
    setup.containers.append(renamed)
    assert setup.addresses(client, renamed) == [ip]
    assert setup.ask(client, web).header.rcode == RCODE.SERVFAIL

    docker(setup.daemon, "network", "disconnect", net, renamed)
    assert setup.ask(client, renamed).header.rcode == RCODE.SERVFAIL
    docker(setup.daemon, "network", "connect", "--alias", "back", net, renamed)
    again = setup.ip(renamed, net)
    assert setup.addresses(client, "back") == setup.addresses(client, renamed) == [again]


def test_links_are_known_to_the_linking_container_only(setup: Setup) -> None:
    net = setup.network("--internal")
    web = setup.container("--network", net)
    linked = setup.container("--network", net, "--link", f"{web}:db")
    other = setup.container("--network", net)
    assert setup.addresses(linked, "db") == [setup.ip(web, net)]
    assert setup.ask(other, "db").header.rcode == RCODE.SERVFAIL


def test_names_are_scoped_to_shared_networks(setup: Setup) -> None:
    front = setup.network("--internal")
    back = setup.network("--internal")
    web = setup.container("--network", front)
    outsider = setup.container("--network", back)
    assert setup.ask(outsider, web).header.rcode == RCODE.SERVFAIL
    # Several containers with one alias all answer.
    a = setup.container("--network", back, "--network-alias", "pool")
    b = setup.container("--network", back, "--network-alias", "pool")
    assert setup.addresses(outsider, "pool") == sorted([setup.ip(a, back), setup.ip(b, back)])
