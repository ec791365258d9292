"""The two netlink feeds of the balancer, read with plain sockets and a small attribute
parser (the balancer reads them every control period, so parsing stays cheap):

- ``Conntrack.dump``: one dump of the DNATed conntrack entries (ctnetlink, filtered by
  status in the kernel), summarised per backend address: TCP connections the backend
  holds (until it closes them), and SYNs still unanswered with their age.
- ``ConnectLog``: an NFLOG group the firewall's ``lb_observe`` chain logs to: one message
  per SYN-ACK (``s``) and per reset of a connection not yet established (``f``) from a
  watched backend, read as (kind, backend address) as they come.

Conntrack's own event groups would say the same, but they are not delivered on every
kernel (not on this project's VMs); NFLOG is unicast and is.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from minke.engine.network.nftnetlink import attribute

NETLINK_NETFILTER = 12
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
SUBSYS_CTNETLINK, SUBSYS_ULOG = 1, 4
CT_GET = 1
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_STATUS, CTA_PROTOINFO, CTA_TIMEOUT, CTA_ID = \
    1, 2, 3, 4, 7, 12
CTA_STATUS_MASK = 26
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC = 1
CTA_PROTO_NUM = 1
CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_STATE, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL = 1, 1, 4
IP_CT_TCP_FLAG_CLOSE_INIT = 0x04  # this side sent the first FIN
IPS_SEEN_REPLY, IPS_DST_NAT = 1 << 1, 1 << 5
TCP_SYN_SENT, TCP_ESTABLISHED, TCP_CLOSE_WAIT = 1, 3, 5
SYN_SENT_TIMEOUT = 120  # nf_conntrack_tcp_timeout_syn_sent: its age = this - timeout left
NFULNL_MSG_PACKET, NFULNL_MSG_CONFIG = 0, 1
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_QTHRESH = 1, 2, 5
NFULA_PAYLOAD, NFULA_PREFIX = 9, 10
NFULNL_CFG_CMD_BIND, NFULNL_COPY_PACKET = 1, 2


def _attrs(data: bytes, offset: int, end: int) -> dict[int, tuple[int, int]]:
    """Attribute type → (start, end) of its payload in ``data``."""
    out = {}
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = (offset + 4, offset + length)
        offset += (length + 3) & ~3
    return out


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _messages(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, start of payload, end) of each netlink message in ``data``."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        yield kind, offset + 16, offset + length
        offset += (length + 3) & ~3


@dataclass
class BackendConns:
    live: int = 0  # TCP connections it holds: being set up, established, or closed by
    # the client only (the backend is still at work on it)
    pending: dict[int, float] = field(default_factory=dict)  # conntrack ID → SYN age (s)


def _parse_entry(data: bytes, start: int, end: int
                 ) -> tuple[str, int, int, int, int, bool] | None:
    """(backend address, TCP state, status, timeout left, conntrack ID, whether the client
    closed first) of a TCP entry."""
    top = _attrs(data, start + 4, end)  # after struct nfgenmsg
    if CTA_TUPLE_REPLY not in top or CTA_PROTOINFO not in top:
        return None
    tup = _attrs(data, *top[CTA_TUPLE_REPLY])
    if CTA_TUPLE_IP not in tup or CTA_TUPLE_PROTO not in tup:
        return None
    proto = _attrs(data, *tup[CTA_TUPLE_PROTO])
    if CTA_PROTO_NUM not in proto or data[proto[CTA_PROTO_NUM][0]] != socket.IPPROTO_TCP:
        return None
    ip = _attrs(data, *tup[CTA_TUPLE_IP])
    if CTA_IP_V4_SRC not in ip:
        return None
    source = socket.inet_ntoa(data[ip[CTA_IP_V4_SRC][0]:ip[CTA_IP_V4_SRC][0] + 4])
    tcp = _attrs(data, *_attrs(data, *top[CTA_PROTOINFO]).get(CTA_PROTOINFO_TCP, (0, 0)))
    state = data[tcp[CTA_PROTOINFO_TCP_STATE][0]] if CTA_PROTOINFO_TCP_STATE in tcp else 0
    flags = tcp.get(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL)
    client_closed = bool(flags and data[flags[0]] & IP_CT_TCP_FLAG_CLOSE_INIT)

    def u32(kind: int) -> int:
        return struct.unpack_from(">I", data, top[kind][0])[0] if kind in top else 0
    return source, state, u32(CTA_STATUS), u32(CTA_TIMEOUT), u32(CTA_ID), client_closed


class Conntrack:
    """Dumps of the conntrack table on one netlink socket kept open (closing one costs an
    RCU grace period, ~10 ms here). One caller at a time."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def dump(self, backends: set[str]) -> dict[str, BackendConns]:
        """Live connections to each of ``backends`` (IPv4 addresses), SYNs pending."""
        out = {b: BackendConns() for b in backends}
        if not backends:
            return out
        if self._sock is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._sock.bind((0, 0))
            self._sock.settimeout(5)
        try:
            self._dump(self._sock, out)
        except OSError:
            self.close()  # a dump cut short leaves messages that are not the next one's
            raise
        return out

    @staticmethod
    def _dump(sock: socket.socket, out: dict[str, BackendConns]) -> None:
        body = struct.pack("=BBH", socket.AF_INET, 0, 0)
        body += attribute(CTA_STATUS, struct.pack(">I", IPS_DST_NAT))
        body += attribute(CTA_STATUS_MASK, struct.pack(">I", IPS_DST_NAT))
        sock.send(_message((SUBSYS_CTNETLINK << 8) | CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1,
                           body))
        while True:
            data = sock.recv(1 << 18)
            for kind, start, end in _messages(data):
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, start)[0]
                    if code:
                        raise OSError(code, f"conntrack dump: {os.strerror(code)}")
                    return
                entry = _parse_entry(data, start, end)
                if entry is None or entry[0] not in out:
                    continue
                source, state, status, timeout, ct_id, client_closed = entry
                # The backend holds a connection until it closes it: a client that gave up
                # (closed first) leaves it busy until then.
                if not (TCP_SYN_SENT <= state <= TCP_ESTABLISHED
                        or (state <= TCP_CLOSE_WAIT and client_closed)):
                    continue
                conns = out[source]
                conns.live += 1
                if state == TCP_SYN_SENT and not status & IPS_SEEN_REPLY:
                    conns.pending[ct_id] = max(0.0, SYN_SENT_TIMEOUT - timeout)


class ConnectLog:
    """A bound NFLOG group: ``read`` returns the (kind, backend) pairs logged so far."""

    def __init__(self, first_group: int, tries: int = 64) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.group = 0
        try:
            for group in range(first_group, first_group + tries):
                if self._bind(group & 0xFFFF or 1):
                    self.group = group & 0xFFFF or 1
                    break
            else:
                raise OSError(errno.EBUSY, "no free NFLOG group for the load balancer")
            self._config(attribute(NFULA_CFG_MODE, struct.pack(">IBB", 40, NFULNL_COPY_PACKET, 0)))
            # Every message at once: a failure must reach the breaker in microseconds, not
            # wait for a batch (a message costs the balancer ~10 µs).
            self._config(attribute(NFULA_CFG_QTHRESH, struct.pack(">I", 1)))
        except BaseException:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def _request(self, group: int, attrs: bytes) -> int:
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(group)) + attrs
        self.sock.send(_message((SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
                                NLM_F_REQUEST | NLM_F_ACK, 1, body))
        data = self.sock.recv(4096)
        for kind, start, _ in _messages(data):
            if kind == NLMSG_ERROR:
                return -struct.unpack_from("=i", data, start)[0]
        return 0

    def _bind(self, group: int) -> bool:
        code = self._request(group, attribute(NFULA_CFG_CMD, bytes([NFULNL_CFG_CMD_BIND])))
        if code in (errno.EBUSY, errno.EEXIST, errno.EPERM):
            return False
        if code:
            raise OSError(code, f"NFLOG group {group}: {os.strerror(code)}")
        return True

    def _config(self, attrs: bytes) -> None:
        code = self._request(self.group, attrs)
        if code:
            raise OSError(code, f"NFLOG group {self.group}: {os.strerror(code)}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # overrun: some outcomes lost, go on
                    continue
                raise
            for kind, start, end in _messages(data):
                if kind != (SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
                    continue
                attrs = _attrs(data, start + 4, end)
                if NFULA_PREFIX not in attrs or NFULA_PAYLOAD not in attrs:
                    continue
                prefix = data[attrs[NFULA_PREFIX][0]:attrs[NFULA_PREFIX][0] + 1].decode()
                payload = attrs[NFULA_PAYLOAD][0]
                out.append((prefix, socket.inet_ntoa(data[payload + 12:payload + 16])))

    def close(self) -> None:
        self.sock.close()
