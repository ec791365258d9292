"""Embedded DNS latency: lookups of another container's name at 127.0.0.11 from inside a
container on a user-defined network, minke vs Docker.

The figures that matter time the lookups themselves: a query loop in this process, its UDP
sockets made in the client container's network namespace (from its ``State.Pid``: Docker's
DNAT of 127.0.0.11:53 to its resolver's port applies as it would to the container's own
queries), sends A queries back to back — with 1 client, and with 100 clients each keeping one
query outstanding — and reports the median and p99 of each lookup's round trip. Both daemons
are set up first and then measured in alternating rounds, so that the load of a shared
machine weighs on both alike. The ``nslookup`` figure is the old one (median over the
rounds): busybox nslookup run 100 times in a shell loop in the client container, which
mostly times a fork and exec per lookup (and asks both A and AAAA), alike on both sides.

Goal (issue 11): minke's per-lookup latency at most half of Docker's.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import struct
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from common import NO_DOCKER, Target, docker_target, import_busybox, minke_target, ratio, report

from minke.engine.network import netns

DNS = ("127.0.0.11", 53)
ROUNDS = 5  # alternating rounds per daemon
SEQUENTIAL = 1000  # lookups by the one client, per round
CONCURRENT = 100  # clients of the concurrent run
CONCURRENT_LOOKUPS = 5000  # lookups over all the clients, per round
NSLOOKUPS = 100  # per round
TIMEOUT = 1.0  # s before a lost datagram is asked again (and counted)


def query(name: str, qid: int) -> bytes:
    """An A query for ``name`` with recursion desired, as a stub resolver sends it."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)


def check(reply: bytes, qid: int, address: str) -> None:
    ident, flags, _, answers = struct.unpack("!HHHH", reply[:8])
    if ident != qid or flags & 0x000F or not answers or socket.inet_aton(address) not in reply:
        raise RuntimeError(f"bad reply to query {qid}: {reply!r}")


@dataclass
class Side:
    """One daemon's containers, and the round trips measured so far."""

    target: Target
    ref: str
    net: str
    peer: str
    address: str  # the peer's
    pid: int  # the client container's init
    client: str
    one: list[int] = field(default_factory=list)  # ns
    many: list[int] = field(default_factory=list)
    lost: int = 0
    elapsed_one: float = 0.0
    elapsed_many: float = 0.0
    nslookup_ms: list[float] = field(default_factory=list)  # per round


@contextmanager
def prepared(target: Target) -> Iterator[Side]:
    ref = import_busybox(target)
    suffix = uuid.uuid4().hex[:6]
    net, peer, client = f"bench-dns-{suffix}", f"bench-peer-{suffix}", f"bench-cli-{suffix}"
    target.docker("network", "create", net)
    try:
        for name in (peer, client):
            target.docker("run", "-d", "--name", name, "--network", net, ref, "sleep", "900")
        inspect = json.loads(target.docker("inspect", peer, client).stdout)
        yield Side(target, ref, net, peer, inspect[0]["NetworkSettings"]["Networks"][net][
            "IPAddress"], int(inspect[1]["State"]["Pid"]), client)
    finally:
        target.docker("rm", "-f", peer, client, check=False)
        target.docker("network", "rm", net, check=False)


def sockets(pid: int, count: int) -> list[socket.socket]:
    """``count`` UDP sockets connected to 127.0.0.11:53 in the namespace of process ``pid``."""

    def make() -> list[socket.socket]:
        out = []
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(DNS)
            out.append(s)
        return out

    return netns.run_in(f"/proc/{pid}/ns/net", make)


def sequential(side: Side) -> None:
    [s] = sockets(side.pid, 1)
    s.settimeout(TIMEOUT)
    try:
        for qid in range(-50, SEQUENTIAL):  # the first 50 warm up
            message = query(side.peer, qid % 65536)
            start = time.perf_counter_ns()
            s.send(message)
            try:
                reply = s.recv(4096)
            except TimeoutError:
                side.lost += 1
                continue
            took = time.perf_counter_ns() - start
            check(reply, qid % 65536, side.address)
            if qid >= 0:
                side.one.append(took)
                side.elapsed_one += took / 1e9
    finally:
        s.close()


def concurrent(side: Side) -> None:
    """CONCURRENT clients, each asking again as soon as its answer is in."""
    clients = sockets(side.pid, CONCURRENT)
    by_fd = {s.fileno(): s for s in clients}
    sel = selectors.DefaultSelector()
    sent: dict[int, tuple[int, int]] = {}  # fd → (query id, send time)
    counter = 0
    counted = 0

    def ask(s: socket.socket) -> None:
        nonlocal counter
        counter += 1
        qid = counter % 65536
        sent[s.fileno()] = (qid, time.perf_counter_ns())
        s.send(query(side.peer, qid))

    try:
        for s in clients:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            ask(s)
        begin = time.perf_counter()
        warm = CONCURRENT  # answers to the first round are not counted
        while counted < CONCURRENT_LOOKUPS:
            events = sel.select(TIMEOUT)
            now = time.perf_counter_ns()
            if not events:
                side.lost += len(sent)
                for s in clients:
                    ask(s)
                continue
            for key, _ in events:
                s = by_fd[key.fd]
                reply = s.recv(4096)
                qid, start = sent[key.fd]
                if struct.unpack("!H", reply[:2])[0] != qid:
                    continue  # the late answer to a query asked again
                check(reply, qid, side.address)
                if warm:
                    warm -= 1
                    if not warm:
                        begin = time.perf_counter()
                else:
                    side.many.append(now - start)
                    counted += 1
                ask(s)
        side.elapsed_many += time.perf_counter() - begin
    finally:
        sel.close()
        for s in clients:
            s.close()


def nslookup_loop(side: Side) -> None:
    script = (f"read s _ < /proc/uptime; i=0; while [ $i -lt {NSLOOKUPS} ]; do "
              f"nslookup {side.peer} >/dev/null || exit 1; i=$((i+1)); done; "
              "read e _ < /proc/uptime; echo $s $e")
    out = side.target.docker("exec", side.client, "sh", "-c", script)
    start, end = map(float, out.stdout.decode().split()[-2:])
    side.nslookup_ms.append((end - start) / NSLOOKUPS * 1000)


def figures(times_ns: list[int], elapsed: float) -> dict[str, float]:
    ordered = sorted(times_ns)
    return {"median_ms": round(statistics.median(ordered) / 1e6, 4),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] / 1e6, 4),
            "lookups": len(ordered), "lookups_per_s": round(len(ordered) / elapsed)}


def results(side: Side) -> dict[str, object]:
    return {"one_client": figures(side.one, side.elapsed_one),
            f"{CONCURRENT}_clients": figures(side.many, side.elapsed_many),
            "lost": side.lost, "nslookup_ms": round(statistics.median(side.nslookup_ms), 3)}


def main() -> None:
    argparse.ArgumentParser().parse_args()
    if os.geteuid() != 0:
        raise SystemExit("network_dns: run as root (it enters the containers' namespaces)")
    with ExitStack() as stack:
        minke_side, _ = stack.enter_context(minke_target())
        sides = {"minke": stack.enter_context(prepared(minke_side))}
        docker = docker_target()
        if docker is not None:
            sides["docker"] = stack.enter_context(prepared(docker))
        for _ in range(ROUNDS):
            for side in sides.values():
                sequential(side)
                concurrent(side)
                nslookup_loop(side)
        out: dict[str, Any] = {name: results(side) for name, side in sides.items()}
    if docker is None:
        out["docker"] = NO_DOCKER
    else:
        minke, other = out["minke"], out["docker"]
        many = f"{CONCURRENT}_clients"
        for group, label in (("one_client", "one_client"), (many, many)):
            for figure in ("median", "p99"):
                out[f"ratio_{figure}_{label}"] = ratio(minke[group][f"{figure}_ms"],
                                                       other[group][f"{figure}_ms"])
        out["ratio_nslookup"] = ratio(minke["nslookup_ms"], other["nslookup_ms"])
    report("network_dns", out)


if __name__ == "__main__":
    main()
