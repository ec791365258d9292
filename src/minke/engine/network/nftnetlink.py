"""Set and map element updates sent to nf_tables over netlink, without an ``nft`` process.

``nft -f`` costs a fork, an exec and a cache of the table it reads first (tens of ms once a
table holds a thousand services); replacing the elements of a few named maps needs none of
that. ``ElementWriter.replace`` sends one nfnetlink batch (one kernel transaction: all or
nothing) that flushes each map or set named and adds its new elements. Keys are 32-bit
integers in host order (the type of ``numgen`` and ``jhash``); data are values as the
caller encodes them (``firewall._value``). The rest of the table is never touched, so its
handle, counters and other sets survive. ``firewall.Firewall.set_weights`` uses it;
rendering stays in ``firewall``.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM = 12, 14
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000
NFPROTO_INET = 1
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_LIST_ELEM = 1
NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_DATA = 1, 2
NFTA_DATA_VALUE = 1
MAX_BATCH = 1 << 20  # bytes per send; a larger update goes in several transactions


@dataclass(frozen=True)
class Replace:
    """The new contents of one map (``elements``: key → data bytes) or, with no elements,
    a flush of the set or map ``name``."""

    name: str
    elements: tuple[tuple[int, bytes], ...] = ()


def attribute(kind: int, payload: bytes) -> bytes:
    """One netlink attribute (type-length-value, padded to 4 bytes)."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _nest(kind: int, *parts: bytes) -> bytes:
    return attribute(kind | NLA_F_NESTED, b"".join(parts))


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _element(key: int, data: bytes) -> bytes:
    return _nest(NFTA_LIST_ELEM,
                 _nest(NFTA_SET_ELEM_KEY, attribute(NFTA_DATA_VALUE, struct.pack("=I", key))),
                 _nest(NFTA_SET_ELEM_DATA, attribute(NFTA_DATA_VALUE, data)))


def _message(kind: int, flags: int, seq: int, family: int, res_id: int, body: bytes) -> bytes:
    payload = struct.pack("=BBH", family, 0, socket.htons(res_id)) + body
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload


def _messages(table: str, replace: Replace, seq: int) -> list[bytes]:
    head = attribute(NFTA_SET_ELEM_LIST_TABLE, _name(table)) + \
        attribute(NFTA_SET_ELEM_LIST_SET, _name(replace.name))
    out = [_message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM,
                    NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_INET, 0, head)]
    if replace.elements:
        elements = _nest(NFTA_SET_ELEM_LIST_ELEMENTS,
                         *(_element(key, data) for key, data in replace.elements))
        out.append(_message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM,
                            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, seq + 1, NFPROTO_INET,
                            0, head + elements))
    return out


class ElementWriter:
    """A netlink socket to nf_tables kept open: closing one costs an RCU grace period
    (~10 ms here), more than the update itself. Not thread-safe: one caller at a time."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._seq = 1

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_BATCH * 2)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, 0))
            self._sock = sock
        return self._sock

    def replace(self, table: str, updates: list[list[Replace]]) -> None:
        """Apply ``updates`` to ``inet table``: each inner list in one transaction (several
        inner lists share one as long as they fit in a send). OSError when the kernel
        refuses (e.g. ENOENT: a map that is not there), nothing of that transaction
        applied."""
        sock = self._socket()
        batch: list[bytes] = []
        try:
            for group in updates:
                parts = [m for replace in group for m in _messages(table, replace, 0)]
                if batch and sum(map(len, batch)) + sum(map(len, parts)) > MAX_BATCH:
                    self._seq = _send(sock, batch, self._seq)
                    batch = []
                batch += parts
            if batch:
                self._seq = _send(sock, batch, self._seq)
        except OSError:
            self.close()  # unread answers must not be taken for the next call's
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _renumber(message: bytes, seq: int) -> bytes:
    return message[:8] + struct.pack("=I", seq) + message[12:]


def _send(sock: socket.socket, messages: list[bytes], seq: int) -> int:
    """One batch: begin (``seq``), ``messages`` (numbered after it), end; waits for every
    message's ack. The next free sequence number."""
    numbered = [_renumber(m, seq + 1 + i) for i, m in enumerate(messages)]
    end = seq + 1 + len(numbered)
    sock.send(_message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, socket.AF_UNSPEC,
                       NFNL_SUBSYS_NFTABLES, b"")
              + b"".join(numbered)
              + _message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, socket.AF_UNSPEC,
                         NFNL_SUBSYS_NFTABLES, b""))
    pending = set(range(seq + 1, end))
    sock.settimeout(5)
    while pending:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, number = struct.unpack_from("=IHHI", data, offset)
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, offset + 16)[0]
                if code:
                    raise OSError(code, f"nf_tables: {os.strerror(code)}")
                pending.discard(number)
            offset += (length + 3) & ~3 if length else len(data)
    return (end + 1) & 0x7FFFFFFF or 1
