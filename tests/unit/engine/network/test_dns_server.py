"""The embedded DNS server's answers, from a small in-memory view of names."""

from __future__ import annotations

import asyncio
import struct

from dnslib import EDNS0, QTYPE, RCODE, DNSQuestion, DNSRecord

from minke.engine.network import dnswire
from minke.engine.network.dns import FORWARD, Answer, DNSServer


class Names:
    """The ``dns.Names`` protocol over plain dictionaries."""

    def __init__(self, forward: bool = False) -> None:
        self.names = {"web": Answer(["10.0.0.2", "10.0.0.3"], ["fd00::2"]),
                      "db": Answer(["10.0.0.4"], [])}
        self.ptr = {"10.0.0.2": "web.front", "fd00::2": "web.front"}
        self.forward = forward
        self.generation = 0

    def lookup(self, container_id: str, name: str) -> Answer | None:
        return self.names.get(name)

    def reverse(self, container_id: str, address: str) -> str | None:
        return self.ptr.get(address)

    def upstreams(self, container_id: str) -> tuple[list[str], bool]:
        return [], self.forward


def ask(name: str, qtype: str, server: DNSServer | None = None, tcp: bool = False,
        request: DNSRecord | None = None) -> DNSRecord:
    data = (request or DNSRecord.question(name, qtype)).pack()
    reply = asyncio.run((server or DNSServer(Names())).handle("c", data, tcp=tcp))
    assert reply is not None
    return DNSRecord.parse(reply)


def test_a_records_of_every_container_with_the_alias() -> None:
    reply = ask("web", "A")
    assert sorted(str(rr.rdata) for rr in reply.rr) == ["10.0.0.2", "10.0.0.3"]
    assert all(rr.ttl == 600 and str(rr.rname) == "web." for rr in reply.rr)
    assert reply.header.aa and reply.header.ra and reply.header.qr


def test_reply_keeps_id_question_and_case() -> None:
    request = DNSRecord.question("WeB", "A")
    reply = ask("", "", request=request)
    assert reply.header.id == request.header.id
    assert str(reply.q.qname) == "WeB." and [str(rr.rname) for rr in reply.rr] == ["WeB."] * 2


def test_round_robin_changes_the_order() -> None:
    server = DNSServer(Names())
    orders = {tuple(str(rr.rdata) for rr in ask("web", "A", server).rr) for _ in range(64)}
    assert orders == {("10.0.0.2", "10.0.0.3"), ("10.0.0.3", "10.0.0.2")}


def test_aaaa_and_known_name_without_ipv6() -> None:
    assert [str(rr.rdata) for rr in ask("web", "AAAA").rr] == ["fd00::2"]
    reply = ask("db", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr


def test_ptr() -> None:
    reply = ask("2.0.0.10.in-addr.arpa", "PTR")
    assert reply.rr[0].rtype == QTYPE.PTR and str(reply.rr[0].rdata) == "web.front."
    nibbles = ".".join(reversed("fd00" + "0" * 27 + "2"))
    assert str(ask(f"{nibbles}.ip6.arpa", "PTR").rr[0].rdata) == "web.front."


def test_unknown_name_without_forwarding_fails() -> None:
    reply = ask("example.org", "A")
    assert reply.header.rcode == RCODE.SERVFAIL and str(reply.q.qname) == "example.org."


def test_other_types_and_unknown_names_are_forwarded() -> None:
    server = DNSServer(Names())
    for name, qtype in (("example.org", "A"), ("web", "MX"), ("9.9.9.9.in-addr.arpa", "PTR")):
        assert server.answer("c", DNSRecord.question(name, qtype).pack()) is FORWARD


def test_garbage_is_dropped() -> None:
    assert asyncio.run(DNSServer(Names()).handle("c", b"\x00\x01garbage")) is None


def test_cached_answers_follow_the_view() -> None:
    names = Names()
    server = DNSServer(names)
    assert [str(rr.rdata) for rr in ask("db", "A", server).rr] == ["10.0.0.4"]
    names.names["db"] = Answer(["10.0.0.9"], [])
    names.generation += 1
    assert [str(rr.rdata) for rr in ask("db", "A", server).rr] == ["10.0.0.9"]
    del names.names["db"]
    names.generation += 1
    assert ask("db", "A", server).header.rcode == RCODE.SERVFAIL


def test_several_questions_take_the_dnslib_path() -> None:
    request = DNSRecord.question("db", "A")
    request.add_question(DNSQuestion("web", QTYPE.A))
    assert dnswire.question(request.pack()) is None
    assert [str(rr.rdata) for rr in ask("", "", request=request).rr] == ["10.0.0.4"]


def many(count: int) -> Names:
    names = Names()
    names.names["pool"] = Answer([f"10.1.{i // 250}.{i % 250 + 1}" for i in range(count)], [])
    return names


def test_udp_reply_is_truncated_to_512_bytes_without_edns() -> None:
    server = DNSServer(many(60))
    data = DNSRecord.question("pool", "A").pack()
    reply = server.answer("c", data, udp=True)
    assert isinstance(reply, bytes) and len(reply) <= 512
    parsed = DNSRecord.parse(reply)
    assert parsed.header.tc and 0 < len(parsed.rr) < 60
    # Over TCP (and with a large enough EDNS buffer over UDP) all of them come.
    assert len(ask("pool", "A", server, tcp=True).rr) == 60
    request = DNSRecord.question("pool", "A")
    request.add_ar(EDNS0(udp_len=4096))
    reply = server.answer("c", request.pack(), udp=True)
    assert isinstance(reply, bytes)
    assert not DNSRecord.parse(reply).header.tc and len(DNSRecord.parse(reply).rr) == 60


def test_question_reader_refuses_odd_messages() -> None:
    query = DNSRecord.question("web", "A").pack()
    assert dnswire.question(query) is not None
    assert dnswire.question(query[:-2]) is None  # cut short
    response = bytearray(query)
    response[2] |= 0x80
    assert dnswire.question(bytes(response)) is None  # a response, not a query
    pointer = query[:12] + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    assert dnswire.question(pointer) is None
    assert dnswire.name_text(b"\x03a.b\x00") is None and dnswire.name_text(b"\x01\x07\x00") is None
    assert dnswire.name_text(b"\x03web\x05front\x00") == "web.front"
