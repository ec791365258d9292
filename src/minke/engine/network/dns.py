"""The embedded DNS server at 127.0.0.11, as Docker's, one listener per container.

Owns the wire side of name resolution for containers on user-defined networks: a UDP and
a TCP socket bound to 127.0.0.11:53 *inside* each container's network namespace (made by
a thread that entered it: a socket keeps the namespace it was made in). All of them are
served by one thread of the server's own, with its own event loop, so a lookup never waits
for the API's loop and the API never waits for lookups. Answers come from a ``Names`` view
(``names.NameView``: which names a container may see, kept in memory and current by the
network service, so answers are network-scoped); the common query is read and answered by
``dnswire`` and its answer records are cached until the view changes (dnslib handles the
rest). Other names are forwarded to the upstream servers (``--dns``, else the host's
resolv.conf) in a task of that loop, from the daemon's namespace so that a loopback
resolver of the host (a local dnsmasq or systemd-resolved) answers too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from minke.engine.network import dnswire, netns

log = logging.getLogger(__name__)
T = TypeVar("T")

DNS_ADDRESS = "127.0.0.11"
DNS_PORT = 53
TTL = 600  # s, Docker's TTL for container names
FORWARD_TIMEOUT = 2.0  # s per upstream server
MAX_TCP_MESSAGE = 65535
# After answering, look for the next datagram this long before sleeping in epoll again: a
# client asking back to back then finds the thread awake, as Go's scheduler keeps a thread
# spinning in Docker (waking a thread on another, idle, CPU costs tens of µs on VMs). A spin
# that catches nothing stops the spinning for SPIN_PAUSE_NS: spread-out queries would only
# pay for it (the CPU it burns is the asker's when they share one).
SPIN_NS = 50_000
SPIN_PAUSE_NS = 10_000_000
TURN_NS = 2_000_000  # longest a busy listener keeps the thread from the others
CACHE_ENTRIES = 4096  # answers kept per view generation; past that the cache starts over


class _Forward:
    """``answer``'s word for "not ours: ask the upstream servers"."""


FORWARD = _Forward()


@dataclass
class Answer:
    """The addresses of a name the view knows (either list may be empty)."""

    ipv4: list[str]
    ipv6: list[str]


class Names(Protocol):
    """The server's view of the names; read from the server's thread."""

    generation: int  # bumped after every change: cached answers are from older ones

    def lookup(self, container_id: str, name: str) -> Answer | None: ...

    def reverse(self, container_id: str, address: str) -> str | None: ...

    def upstreams(self, container_id: str) -> tuple[list[str], bool]: ...


def upstream_servers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines
            if line.strip().startswith("nameserver") and len(line.split()) > 1]


class _Listener:
    def __init__(self, udp: socket.socket, server: asyncio.Server) -> None:
        self.udp, self.server = udp, server


def _report_failure(done: concurrent.futures.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("stopping a DNS listener: %s", done.exception())


class DNSServer:
    """Listeners of every container of one daemon, served by the server's thread;
    ``listen``, ``stop`` and ``close`` are called from the daemon's loop."""

    def __init__(self, names: Names) -> None:
        self._names = names
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._serving: dict[str, Path] = {}  # container id → namespace, on the daemon's loop
        # Touched on the server's thread only.
        self._listeners: dict[str, _Listener] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._cache: dict[tuple[Any, ...], Any] = {}  # see ``answer``
        self._cache_generation = -1
        self._spin, self._spin_resumes = True, 0  # see SPIN_NS

    # -- the server's thread --------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="minke-dns",
                                            daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for it from the caller's."""
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(coro, self._start()))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- listeners (called from the daemon's loop) ----------------------------------------

    async def listen(self, container_id: str, ns: Path) -> None:
        """Serve 127.0.0.11:53 (UDP and TCP) in the namespace at ``ns``; a listener already
        there stays (what it answers comes from the view)."""

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

        if self._serving.get(container_id) == ns:
            return
        self._serving[container_id] = ns
        try:
            udp, tcp = await asyncio.to_thread(netns.run_in, ns, make)
        except BaseException:
            if self._serving.get(container_id) == ns:
                del self._serving[container_id]
            raise
        if self._serving.get(container_id) != ns:  # stopped meanwhile
            udp.close()
            tcp.close()
            return
        try:
            # Queued on the server's loop ahead of any later stop's removal.
            await self._call(self._add(container_id, udp, tcp))
        except BaseException:
            udp.close()
            tcp.close()
            raise

    async def stop(self, container_id: str) -> None:
        """Stop serving the container, without waiting for the server's thread: the removal
        is queued on its loop ahead of any later ``listen``'s, and waiting for the hop back
        cost every container exit ~40 ms when ten exit at once (``compose down``)."""
        if self._serving.pop(container_id, None) is not None:
            done = asyncio.run_coroutine_threadsafe(self._remove(container_id), self._start())
            done.add_done_callback(_report_failure)

    async def close(self) -> None:
        if self._loop is None:
            return
        self._serving.clear()
        await self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        self._loop.close()
        self._loop = self._thread = None

    # -- listeners (on the server's loop) -------------------------------------------------

    async def _add(self, container_id: str, udp: socket.socket, tcp: socket.socket) -> None:
        await self._remove(container_id)
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(
            lambda r, w: self._serve_tcp(container_id, r, w), sock=tcp)
        loop.add_reader(udp, self._on_datagram, container_id, udp)
        self._listeners[container_id] = _Listener(udp, server)

    async def _remove(self, container_id: str) -> None:
        listener = self._listeners.pop(container_id, None)
        if listener is not None:
            asyncio.get_running_loop().remove_reader(listener.udp)
            listener.udp.close()
            listener.server.close()

    async def _close(self) -> None:
        for container_id in list(self._listeners):
            await self._remove(container_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_datagram(self, container_id: str, sock: socket.socket) -> None:
        now = time.monotonic_ns()
        turn_ends = now + TURN_NS
        spin_until = 0
        if not self._spin and now >= self._spin_resumes:
            self._spin = True  # the queries may come back to back again
        while True:
            try:
                data, peer = sock.recvfrom(MAX_TCP_MESSAGE)
            except BlockingIOError:
                now = time.monotonic_ns()
                if now < spin_until and now < turn_ends:
                    continue
                if spin_until and now >= spin_until:  # spun in vain
                    self._spin, self._spin_resumes = False, now + SPIN_PAUSE_NS
                return
            except OSError:
                return
            try:
                reply = self.answer(container_id, data, udp=True)
            except Exception:  # a bug must cost one answer, not the listener
                log.exception("DNS query of %s", container_id[:12])
                reply = None
            if isinstance(reply, _Forward):
                self.spawn(self._forward_to(container_id, data, sock, peer))
            elif reply is not None:
                with contextlib.suppress(OSError):  # the asker is gone
                    sock.sendto(reply, peer)
            now = time.monotonic_ns()
            if now >= turn_ends:
                return  # the other listeners' turn; epoll brings us back
            spin_until = now + SPIN_NS if self._spin else 0

    async def _forward_to(self, container_id: str, data: bytes, sock: socket.socket,
                          peer: tuple[str, int]) -> None:
        reply = await self.forward(container_id, data)
        if reply is not None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)

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

    # -- the protocol ---------------------------------------------------------------------

    async def handle(self, container_id: str, data: bytes, tcp: bool = False) -> bytes | None:
        """The reply to one query message (None: drop it)."""
        reply = self.answer(container_id, data, udp=not tcp)
        if isinstance(reply, _Forward):
            return await self.forward(container_id, data, tcp)
        return reply

    def answer(self, container_id: str, data: bytes, udp: bool = False,
               ) -> bytes | _Forward | None:
        """The reply from the view, FORWARD for a name that is not ours, None to drop it.

        Two caches, emptied when the view changes: the records of a name, and whole replies
        (but the id) to a query message seen before, which is what a client asking again
        sends; not for several records, which are shuffled each time."""
        generation = self._names.generation  # read first: what follows is at least as new
        if generation != self._cache_generation or len(self._cache) > CACHE_ENTRIES:
            self._cache, self._cache_generation = {}, generation
        seen = (container_id, udp, bytes(data[2:]))
        whole = self._cache.get(seen)
        if whole is not None:
            return bytes(data[:2]) + whole
        q = dnswire.question(data)
        if q is None or q.qclass != dnswire.CLASS_IN:
            return self._answer_slowly(container_id, data)
        if q.qtype not in (dnswire.A, dnswire.AAAA, dnswire.PTR):
            return FORWARD
        key = (container_id, q.name, q.qtype)
        records: tuple[bytes, ...] | list[bytes] | None = self._cache.get(key)
        if records is None:
            found = self._records(container_id, q.name, q.qtype)
            if found is None:
                return FORWARD
            records = self._cache[key] = found
        if len(records) > 1:  # round robin over containers sharing an alias
            records = random.sample(records, len(records))
        reply = dnswire.reply(data, q, records,
                              limit=dnswire.udp_limit(data, q) if udp else 0)
        if len(records) < 2:
            self._cache[seen] = reply[2:]
        return reply

    def _records(self, container_id: str, wire_name: bytes, qtype: int) -> tuple[bytes, ...] | None:
        """The encoded answer records for a name, or None when the view does not know it."""
        name = dnswire.name_text(wire_name)
        if name is None:
            return None
        if qtype == dnswire.PTR:
            address = _ptr_address(name)
            target = self._names.reverse(container_id, address) if address else None
            wire = dnswire.name_wire(target) if target is not None else None
            return (dnswire.ptr_record(wire, TTL),) if wire is not None else None
        answer = self._names.lookup(container_id, name)
        if answer is None:
            return None
        addresses = answer.ipv4 if qtype == dnswire.A else answer.ipv6
        return tuple(dnswire.address_record(a, TTL) for a in addresses)

    def _answer_slowly(self, container_id: str, data: bytes) -> bytes | _Forward | None:
        """Queries ``dnswire`` leaves out (several questions, compressed names, other
        opcodes or classes), through dnslib: the first question is answered."""
        from dnslib import AAAA, PTR, QTYPE, RR, A, DNSError, DNSRecord

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
            target = self._names.reverse(container_id, _ptr_address(name) or "")
            if target is not None:
                reply.add_answer(RR(question.qname, QTYPE.PTR, ttl=TTL, rdata=PTR(target + ".")))
                return reply.pack()
        elif qtype in ("A", "AAAA"):
            answer = self._names.lookup(container_id, name)
            if answer is not None:
                addresses = list(answer.ipv4 if qtype == "A" else answer.ipv6)
                random.shuffle(addresses)
                for address in addresses:
                    rdata = A(address) if qtype == "A" else AAAA(address)
                    reply.add_answer(RR(question.qname, question.qtype, ttl=TTL, rdata=rdata))
                return reply.pack()
        return FORWARD

    async def forward(self, container_id: str, data: bytes, tcp: bool = False) -> bytes | None:
        """The upstream servers' reply to a query not about our names; SERVFAIL if none
        answers or the container may not forward (only on internal networks)."""
        servers, allowed = self._names.upstreams(container_id)
        if allowed:
            for server in servers:
                with contextlib.suppress(OSError, TimeoutError):
                    return await self._forward(server, data, tcp)
        return _servfail(data)

    async def _forward(self, server: str, data: bytes, tcp: bool) -> bytes:
        host, port = server, DNS_PORT
        if tcp:
            async with asyncio.timeout(FORWARD_TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(struct.pack("!H", len(data)) + data)
                await writer.drain()
                async with asyncio.timeout(FORWARD_TIMEOUT):
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                async with asyncio.timeout(FORWARD_TIMEOUT):
                    return await reader.readexactly(size)
            finally:
                writer.close()
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            await loop.sock_connect(s, (host, port))
            await loop.sock_sendall(s, data)
            async with asyncio.timeout(FORWARD_TIMEOUT):
                return await loop.sock_recv(s, MAX_TCP_MESSAGE)


def _servfail(data: bytes) -> bytes | None:
    q = dnswire.question(data)
    if q is not None:
        return dnswire.reply(data, q, (), rcode=dnswire.SERVFAIL)
    from dnslib import RCODE, DNSRecord

    try:
        reply = DNSRecord.parse(data).reply()
    except Exception:  # dnslib raises assorted errors on garbage
        return None
    reply.header.rcode = RCODE.SERVFAIL
    return reply.pack()


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

        try:
            return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
        except ValueError:
            return None
    return None
