"""The DNS wire format of the embedded server's common case, by hand: fast and allocation-light.

Owns reading the one question of a standard query (RFC 1035 §4.1) and writing the reply to
it: the header with the query's id and flags (QR, AA and RA set, as dnslib's ``reply()``),
the question copied byte for byte, and answer records that point at the question's name
(compression pointer 0xC00C) so they can be encoded once and cached apart from the query.
Anything out of the ordinary (several questions, compressed or odd names, other opcodes) is
``None`` here and left to the server's dnslib path. Pure functions; no I/O.
"""

from __future__ import annotations

import socket
import struct

A, PTR, AAAA, OPT = 1, 12, 28, 41
CLASS_IN = 1
NOERROR, SERVFAIL = 0, 2
UDP_LIMIT = 512  # bytes of a UDP reply to a query without EDNS (RFC 1035 §4.2.1)

_HEADER = struct.Struct("!HHHHH")  # flags and the four counts; the id is copied
_RR = struct.Struct("!HHIH")  # type, class, TTL, rdata length
_QR, _AA, _TC, _RA = 0x8000, 0x0400, 0x0200, 0x0080
_NOT_A_QUERY = 0xF800  # QR set, or an opcode other than QUERY


class Question:
    """The question of a standard query: ``name`` is lowercased wire form, ``end`` the
    offset just past the question (where the answers of the reply start)."""

    __slots__ = ("end", "name", "qclass", "qtype")

    def __init__(self, name: bytes, qtype: int, qclass: int, end: int) -> None:
        self.name, self.qtype, self.qclass, self.end = name, qtype, qclass, end


def question(data: bytes) -> Question | None:
    """The one question of a standard query, or None for anything else."""
    if len(data) < 17 or data[4:6] != b"\x00\x01" or (data[2] << 8) & _NOT_A_QUERY:
        return None
    pos = 12
    try:
        while length := data[pos]:
            if length > 63:  # a compression pointer or an extended label type
                return None
            pos += length + 1
    except IndexError:
        return None
    end = pos + 5
    if end > len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, pos + 1)
    return Question(bytes(data[12:pos + 1]).lower(), qtype, qclass, end)


def name_text(wire: bytes) -> str | None:
    """``\\x03web\\x05front\\x00`` → ``web.front``; None when a label holds a dot or a byte
    outside printable ASCII (no container name does: such a name is not ours)."""
    labels = []
    pos = 0
    while length := wire[pos]:
        label = wire[pos + 1:pos + 1 + length]
        if b"." in label or not label.isascii() or not label.decode().isprintable():
            return None
        labels.append(label.decode())
        pos += length + 1
    return ".".join(labels)


def name_wire(name: str) -> bytes | None:
    """``web.front`` → its wire form; None if a label is empty or longer than 63 bytes."""
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        if not raw or len(raw) > 63:
            return None
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\x00")


def address_record(address: str, ttl: int) -> bytes:
    """An A or AAAA answer for the question's name."""
    if ":" in address:
        return b"\xc0\x0c" + _RR.pack(AAAA, CLASS_IN, ttl, 16) + \
            socket.inet_pton(socket.AF_INET6, address)
    return b"\xc0\x0c" + _RR.pack(A, CLASS_IN, ttl, 4) + socket.inet_aton(address)


def ptr_record(target: bytes, ttl: int) -> bytes:
    """A PTR answer for the question's name; ``target`` in wire form."""
    return b"\xc0\x0c" + _RR.pack(PTR, CLASS_IN, ttl, len(target)) + target


def udp_limit(data: bytes, q: Question) -> int:
    """The reply size the asker takes over UDP: its EDNS payload size if the query carries
    an OPT record right after the question (where stub resolvers put it), else 512."""
    if data[10:12] != b"\x00\x00" and data[q.end:q.end + 3] == b"\x00\x00\x29" \
            and len(data) >= q.end + 5:
        return max(UDP_LIMIT, struct.unpack_from("!H", data, q.end + 3)[0])
    return UDP_LIMIT


def reply(data: bytes, q: Question, answers: list[bytes] | tuple[bytes, ...],
          rcode: int = NOERROR, limit: int = 0) -> bytes:
    """The reply to the query ``data``; with ``limit``, answers that do not fit are left
    out and TC is set, so that the asker retries over TCP."""
    flags = ((data[2] << 8 | data[3]) | _QR | _AA | _RA) & ~0x000F | rcode
    head_size = q.end
    if limit and head_size + sum(map(len, answers)) > limit:
        kept: list[bytes] = []
        size = head_size
        for record in answers:
            if size + len(record) > limit:
                break
            kept.append(record)
            size += len(record)
        answers, flags = kept, flags | _TC
    return b"".join((data[:2], _HEADER.pack(flags, 1, len(answers), 0, 0),
                     data[12:q.end], *answers))
