"""The embedded DNS server's answers, from a resolver given as plain functions."""

from __future__ import annotations

import asyncio

from dnslib import QTYPE, RCODE, DNSRecord

from minke.engine.network.dns import Answer, DNSServer


def server(forward: bool = False) -> DNSServer:
    names = {"web": Answer(["10.0.0.2", "10.0.0.3"], ["fd00::2"]), "db": Answer(["10.0.0.4"], [])}
    return DNSServer(lambda cid, name: names.get(name),
                     lambda cid, ip: "web.front" if ip == "10.0.0.2" else None,
                     lambda cid: ([], forward))


def ask(name: str, qtype: str) -> DNSRecord:
    data = DNSRecord.question(name, qtype).pack()
    return DNSRecord.parse(asyncio.run(server().handle("c", data)))


def test_a_records_of_every_container_with_the_alias() -> None:
    reply = ask("web", "A")
    assert sorted(str(rr.rdata) for rr in reply.rr) == ["10.0.0.2", "10.0.0.3"]
    assert all(rr.ttl == 600 for rr in reply.rr)


def test_aaaa_and_known_name_without_ipv6() -> None:
    assert [str(rr.rdata) for rr in ask("web", "AAAA").rr] == ["fd00::2"]
    reply = ask("db", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr


def test_ptr() -> None:
    reply = ask("2.0.0.10.in-addr.arpa", "PTR")
    assert reply.rr[0].rtype == QTYPE.PTR and str(reply.rr[0].rdata) == "web.front."


def test_unknown_name_without_forwarding_fails() -> None:
    assert ask("example.org", "A").header.rcode == RCODE.SERVFAIL


def test_garbage_is_dropped() -> None:
    assert asyncio.run(server().handle("c", b"\x00\x01garbage")) is None
