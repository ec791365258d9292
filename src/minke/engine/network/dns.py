"""The embedded DNS server at 127.0.0.11, as Docker's, one listener per container.

Owns the wire side of name resolution for containers on user-defined networks: a UDP and
a TCP socket bound to 127.0.0.11:53 *inside* each container's network namespace (made by
a thread that entered it: a socket keeps the namespace it was made in), served by the
daemon's event loop. Answers come from a ``Resolver`` (the service's view of which names
a container may see: containers, aliases and links on the networks it shares, so answers
are network-scoped); other names are forwarded to the upstream servers (``--dns``, else
the host's resolv.conf), from the daemon's namespace so that a loopback resolver of the
host (a local dnsmasq or systemd-resolved) answers too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minke.engine.network import netns

log = logging.getLogger(__name__)

DNS_ADDRESS = "127.0.0.11"
DNS_PORT = 53
TTL = 600  # s, Docker's TTL for container names
FORWARD_TIMEOUT = 2.0  # s per upstream server
MAX_TCP_MESSAGE = 65535


@dataclass
class Answer:
    """What the resolver knows of a name: None fields mean "not ours, forward it"."""

    ipv4: list[str]
    ipv6: list[str]


# (container id, query name) → Answer or None; (container id, address) → name or None;
# container id → (upstream servers, whether forwarding is allowed)
Lookup = Callable[[str, str], Answer | None]
Reverse = Callable[[str, str], str | None]
Upstreams = Callable[[str], tuple[list[str], bool]]


def upstream_servers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines
            if line.strip().startswith("nameserver") and len(line.split()) > 1]


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer, container_id: str) -> None:
        self.server = server
        self.container_id = container_id
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        async def answer() -> None:
            reply = await self.server.handle(self.container_id, data)
            if reply and self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(reply, addr)

        self.server.spawn(answer())


class DNSServer:
    """Listeners of every container of one daemon; ``handle`` is the protocol logic."""

    def __init__(self, lookup: Lookup, reverse: Reverse, upstreams: Upstreams) -> None:
        self._lookup = lookup
        self._reverse = reverse
        self._upstreams = upstreams
        self._listeners: dict[str, tuple[asyncio.BaseTransport, asyncio.Server]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def listen(self, container_id: str, ns: Path) -> None:
        """Serve 127.0.0.11:53 (UDP and TCP) in the namespace at ``ns``."""
        await self.stop(container_id)

        def make() -> tuple[socket.socket, socket.socket]:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                for s in (udp, tcp):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((DNS_ADDRESS, DNS_PORT))
                    s.setblocking(False)
                tcp.listen(64)
            except BaseException:
                udp.close()
                tcp.close()
                raise
            return udp, tcp

        udp, tcp = await asyncio.to_thread(netns.run_in, ns, make)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UDP(self, container_id), sock=udp)
        server = await asyncio.start_server(
            lambda r, w: self._serve_tcp(container_id, r, w), sock=tcp)
        self._listeners[container_id] = (transport, server)

    async def stop(self, container_id: str) -> None:
        listener = self._listeners.pop(container_id, None)
        if listener:
            listener[0].close()
            listener[1].close()

    async def close(self) -> None:
        for container_id in list(self._listeners):
            await self.stop(container_id)
        for task in list(self._tasks):
            task.cancel()

    async def _serve_tcp(self, container_id: str, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(2)
                data = await reader.readexactly(struct.unpack("!H", header)[0])
                reply = await self.handle(container_id, data, tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handle(self, container_id: str, data: bytes, tcp: bool = False) -> bytes | None:
        """The reply to one query message (None: drop it)."""
        from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSError, DNSRecord

        try:
            request = DNSRecord.parse(data)
        except (DNSError, Exception):  # dnslib raises assorted errors on garbage
            return None
        if not request.questions:
            return None
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        qtype = QTYPE.get(question.qtype, "")
        reply = request.reply()
        if qtype == "PTR":
            target = self._reverse(container_id, _ptr_address(name) or "")
            if target is not None:
                reply.add_answer(RR(question.qname, QTYPE.PTR, ttl=TTL, rdata=PTR(target + ".")))
                return reply.pack()
        elif qtype in ("A", "AAAA"):
            answer = self._lookup(container_id, name)
            if answer is not None:
                addresses = list(answer.ipv4 if qtype == "A" else answer.ipv6)
                random.shuffle(addresses)  # round robin over containers sharing an alias
                for address in addresses:
                    rdata = A(address) if qtype == "A" else AAAA(address)
                    reply.add_answer(RR(question.qname, question.qtype, ttl=TTL, rdata=rdata))
                return reply.pack()
        servers, allowed = self._upstreams(container_id)
        if allowed:
            for server in servers:
                with contextlib.suppress(OSError, TimeoutError):
                    return await self._forward(server, data, tcp)
        reply.header.rcode = RCODE.SERVFAIL
        return reply.pack()

    async def _forward(self, server: str, data: bytes, tcp: bool) -> bytes:
        host, port = server, DNS_PORT
        if tcp:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), FORWARD_TIMEOUT)
            try:
                writer.write(struct.pack("!H", len(data)) + data)
                await writer.drain()
                size = struct.unpack("!H", await asyncio.wait_for(
                    reader.readexactly(2), FORWARD_TIMEOUT))[0]
                return await asyncio.wait_for(reader.readexactly(size), FORWARD_TIMEOUT)
            finally:
                writer.close()
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            await loop.sock_connect(s, (host, port))
            await loop.sock_sendall(s, data)
            return await asyncio.wait_for(loop.sock_recv(s, MAX_TCP_MESSAGE), FORWARD_TIMEOUT)


def _ptr_address(name: str) -> str | None:
    """``2.0.18.172.in-addr.arpa`` → ``172.18.0.2``; the IPv6 nibble form likewise."""
    if name.endswith(".in-addr.arpa"):
        parts = name[: -len(".in-addr.arpa")].split(".")
        return ".".join(reversed(parts)) if len(parts) == 4 else None
    if name.endswith(".ip6.arpa"):
        nibbles = name[: -len(".ip6.arpa")].split(".")
        if len(nibbles) != 32:
            return None
        import ipaddress

        digits = "".join(reversed(nibbles))
        return str(ipaddress.IPv6Address(int(digits, 16)))
    return None
